package store

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/testenv"
)

// steppedClock is a wall clock that follows the real one plus an offset a
// test steps, as NTP steps a device without a real-time clock.
type steppedClock struct{ offset atomic.Int64 }

func (c *steppedClock) now() time.Time {
	return time.Now().Round(0).Add(time.Duration(c.offset.Load())) // no monotonic reading: a wall clock
}

func (c *steppedClock) step(d time.Duration) { c.offset.Add(int64(d)) }

// A wall clock stepped back or forward by 60 s changes neither how long a
// commit waits for its window nor when Run commits acknowledgements: both
// are intervals on the monotonic clock. Records carry the stepped time.
func TestCommitsFlowAcrossWallClockSteps(t *testing.T) {
	var clock steppedClock
	h := newHarness(t, func(o *Options) {
		o.Now = clock.now
		o.CommitInterval = 25 * time.Millisecond
		o.AckInterval = 50 * time.Millisecond
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// A stall is the size of the step (60 s); a loaded machine takes well
	// under 15 s for a few commits.
	const bound = 15 * time.Second
	appendSome := func(phase string) {
		t.Helper()
		for range 5 {
			actx, acancel := context.WithTimeout(context.Background(), bound)
			start := time.Now()
			r, err := h.s.Append(actx, KindMetrics, payload("a/b"))
			took := time.Since(start)
			acancel()
			if err != nil || took > bound {
				t.Fatalf("%s: Append took %v: %v (a commit waited on the wall clock)", phase, took, err)
			}
			if d := clock.now().Sub(r.Created); d < -time.Second || d > bound {
				t.Fatalf("%s: record created at %v, the wall clock says %v", phase, r.Created, clock.now())
			}
		}
	}
	ackAll := func(phase string) {
		t.Helper()
		commits := h.s.Commits()
		for _, seq := range pendingSeqs(t, h.s) {
			if err := h.s.Ack(seq); err != nil {
				t.Fatal(err)
			}
		}
		if !testenv.Within(bound, func() bool { return h.s.Commits() != commits }) {
			t.Fatalf("%s: Run did not commit the acknowledgements within %v", phase, bound)
		}
	}

	appendSome("before the steps")
	ackAll("before the steps")
	clock.step(-60 * time.Second)
	appendSome("after a step back")
	ackAll("after a step back")
	clock.step(120 * time.Second)
	appendSome("after a step forward")
	ackAll("after a step forward")
	if n := h.s.OutboxStats().Count; n != 0 {
		t.Fatalf("%d records left after every one was acknowledged", n)
	}
}
