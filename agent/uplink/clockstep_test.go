package uplink

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/agent/store"
	"github.com/tether-edge/tether/pkg/protocol"
)

// Reports keep flowing while the device's wall clock is stepped back and
// forward by 60 s (NTP on a Pi without a real-time clock): the store's
// commits and the uplink's deliveries wait on the monotonic clock, and the
// reports carry the stepped time.
func TestReportsFlowAcrossWallClockSteps(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Round(0).Add(time.Duration(offset.Load())) }
	r := startBroker(t)
	u, stop := newUplinkWith(t, r.url, "n1", func(o *Options) {
		o.Now = now
		o.Outbox = testOutboxWith(t, store.Options{Now: now, AckInterval: 50 * time.Millisecond})
	})
	defer stop()
	var seq uint64
	report := func(phase string) {
		t.Helper()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := u.PublishMetrics(ctx, protocol.Metrics{CPU: protocol.CPU{Total: 1}}); err != nil {
			t.Fatalf("%s: PublishMetrics after %v: %v", phase, time.Since(start), err)
		}
		seq++
		want := seq
		b := r.waitFor(t, "tether/v1/r1/nodes/n1/metrics", func(b []byte) bool {
			m, err := protocol.DecodeMetrics(b)
			return err == nil && m.Seq == want
		})
		m, _ := protocol.DecodeMetrics(b)
		if d := now().Sub(m.TS); d < -time.Second || d > 15*time.Second {
			t.Fatalf("%s: report stamped %v, the wall clock says %v", phase, m.TS, now())
		}
	}
	report("before the steps")
	offset.Add(int64(-60 * time.Second))
	for range 3 {
		report("after a step back")
	}
	offset.Add(int64(120 * time.Second))
	for range 3 {
		report("after a step forward")
	}
}
