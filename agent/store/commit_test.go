package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/testenv"
)

// Under a burst from many writers, durable commits (each two fsyncs) stay
// at most one per CommitInterval, and every record is committed.
func TestCommitsPerSecondBoundedUnderBurst(t *testing.T) {
	const interval = 40 * time.Millisecond
	h := newHarness(t, func(o *Options) { o.CommitInterval = interval; o.AckInterval = time.Second })
	mustAppend(t, h.s, KindMetrics, payload("a/b"))
	commits0 := h.s.Commits()
	start := time.Now()
	var appended atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for time.Since(start) < 600*time.Millisecond {
				if _, err := h.s.Append(context.Background(), KindMetrics, payload("a/b")); err != nil {
					t.Error(err)
					return
				}
				appended.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	commits := h.s.Commits() - commits0
	// The first commit of the burst may come at once; every other waits
	// its interval after the previous one ended.
	if limit := uint64(elapsed/interval) + 1; commits > limit {
		t.Fatalf("%d commits in %v: more than one per %v (limit %d)", commits, elapsed, interval, limit)
	}
	if n := appended.Load(); n < int64(commits)*4 {
		t.Fatalf("%d records in %d commits: no grouping", n, commits)
	}
	if got := len(pendingSeqs(t, h.s)); int64(got) != appended.Load()+1 {
		t.Fatalf("%d records pending, %d appended", got, appended.Load()+1)
	}
	t.Logf("%d records from 16 writers in %v: %d commits (%.1f/s), %.0f records/commit",
		appended.Load(), elapsed.Round(time.Millisecond), commits, float64(commits)/elapsed.Seconds(),
		float64(appended.Load())/float64(commits))
}

// After a quiet interval an Append commits at once: the window bounds the
// rate, it does not delay a lone write.
func TestLoneAppendCommitsAtOnce(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.CommitInterval = time.Second; o.AckInterval = time.Second })
	h.s.lastCommit.Store(h.s.age.now() - int64(2*time.Second))
	start := time.Now()
	mustAppend(t, h.s, KindMetrics, payload("a/b"))
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("a lone Append took %v with a 1 s window", d)
	}
}

// A waiting writer's context ends its wait; its record may still commit.
func TestAppendContextEndsTheWait(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.CommitInterval = 300 * time.Millisecond; o.AckInterval = time.Second })
	mustAppend(t, h.s, KindMetrics, payload("a/b")) // the next batch waits its window
	leaderDone := make(chan error, 1)
	go func() {
		_, err := h.s.Append(context.Background(), KindMetrics, payload("a/b"))
		leaderDone <- err
	}()
	testenv.Eventually(t, 5*time.Second, "the leader's batch open", func() bool {
		h.s.mu.Lock()
		defer h.s.mu.Unlock()
		return h.s.cur != nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.s.Append(ctx, KindMetrics, payload("a/b")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append with an ending context = %v", err)
	}
	if err := <-leaderDone; err != nil {
		t.Fatal(err)
	}
	diff(t, "the abandoned record committed with its batch", []uint64{1, 2, 3}, pendingSeqs(t, h.s))
	if _, err := h.s.Append(ctx, KindMetrics, payload("a/b")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append with an ended context = %v", err)
	}
	if got := h.s.LastSeq(); got != 3 {
		t.Fatalf("an ended context spent a seq: LastSeq %d", got)
	}
}

// Acknowledgements with nothing to ride on are committed by Run after
// AckInterval; Run returns when the store closes.
func TestRunCommitsAcks(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.AckInterval = 30 * time.Millisecond })
	for range 3 {
		mustAppend(t, h.s, KindMetrics, payload("a/b"))
	}
	done := make(chan error, 1)
	go func() { done <- h.s.Run(context.Background()) }()
	commits := h.s.Commits()
	_ = h.s.Ack(1)
	_ = h.s.Ack(2)
	testenv.Eventually(t, 5*time.Second, "acknowledgements committed by Run", func() bool { return h.s.Commits() != commits })
	s := h.s
	h.s = nil
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after Close = %v", err)
	}
	c, _, err := Open(h.dir, h.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	diff(t, "left after acks", []uint64{3}, pendingSeqs(t, c))
}

// Run sleeps while nothing is due: it looks when it starts, when the first
// acknowledgement since a commit arrives, and when that acknowledgement
// has waited AckInterval since the commit; not once per tick.
func TestRunSleepsWhileIdle(t *testing.T) {
	const ackInterval = 40 * time.Millisecond
	h := newHarness(t, func(o *Options) { o.AckInterval = ackInterval })
	mustAppend(t, h.s, KindMetrics, payload("a/b"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	// settled waits for cond, then checks Run does not look again for ten
	// AckIntervals, and returns how often it looked.
	settled := func(what string, cond func() bool) uint64 {
		t.Helper()
		if !testenv.Within(5*time.Second, cond) {
			t.Fatalf("%s: timed out (Run looked %d times, %d commits)", what, h.s.wakeups.Load(), h.s.Commits())
		}
		n := h.s.wakeups.Load()
		time.Sleep(10 * ackInterval) // kept: the time in which Run must not look (Badger cannot run in a synctest bubble)
		if got := h.s.wakeups.Load(); got != n {
			t.Fatalf("%s: Run looked %d more times in %v with nothing due", what, got-n, 10*ackInterval)
		}
		return n
	}
	if n := settled("idle", func() bool { return h.s.wakeups.Load() > 0 }); n != 1 {
		t.Fatalf("idle: Run looked %d times, want 1", n)
	}
	commits := h.s.Commits()
	_ = h.s.Ack(1) // the commit is older than AckInterval: committed at once
	settled("after a late acknowledgement", func() bool { return h.s.Commits() == commits+1 })
	mustAppend(t, h.s, KindMetrics, payload("a/b"))
	_ = h.s.Ack(2) // committed AckInterval after the append's commit
	if n := settled("after a prompt acknowledgement", func() bool { return h.s.Commits() == commits+3 }); n > 4 {
		t.Fatalf("Run looked %d times for two acknowledgements, want at most 4", n)
	}
	if n := h.s.OutboxStats().Count; n != 0 {
		t.Fatalf("%d records left", n)
	}
}

// Acks waiting at Close are committed by it.
func TestCloseCommitsAcks(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.AckInterval = time.Hour })
	for range 3 {
		mustAppend(t, h.s, KindMetrics, payload("a/b"))
	}
	_ = h.s.Ack(2)
	h.reopen()
	diff(t, "left", []uint64{1, 3}, pendingSeqs(t, h.s))
}
