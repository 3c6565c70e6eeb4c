package store

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/testenv"
)

// kinds: m metrics, e task event, s status.
func indexOf(kinds string, size uint32) *index {
	ix := &index{}
	for i, k := range kinds {
		kind := map[rune]Kind{'m': KindMetrics, 'e': KindTaskEvent, 's': KindStatus}[k]
		ix.add(entry{seq: uint64(i + 1), at: int64(i), size: size, kind: kind})
	}
	return ix
}

func TestPlanBoundsDownsamplesTheOldestHalf(t *testing.T) {
	ix := indexOf("mmmmmmmmmm", 100) // 1,000 bytes
	// 1,100 with what comes in, bound 1,000: free 200 (down to 900).
	p := ix.planBounds(100, 1000, 10, 1<<40)
	diff(t, "downsampled", []uint64{2, 4}, p.downsampled)
	if len(p.dropped) != 0 || p.overflow {
		t.Fatalf("plan = %+v", p)
	}
	if ix.live != 8 || ix.bytes != 800 {
		t.Fatalf("index after planning: %d live, %d bytes", ix.live, ix.bytes)
	}
}

func TestPlanBoundsDropsOldestWhenThinningIsNotEnough(t *testing.T) {
	ix := indexOf("mmmmmmmmmm", 100)
	p := ix.planBounds(600, 1000, 10, 1<<40) // free 700
	// Every other of the oldest five (2, 4), then the oldest left.
	diff(t, "downsampled", []uint64{2, 4}, p.downsampled)
	diff(t, "dropped", []uint64{1, 3, 5, 6, 7}, p.dropped)
	if p.overflow {
		t.Fatal("overflow with metrics freed")
	}
}

func TestPlanBoundsNeverTouchesEvents(t *testing.T) {
	ix := indexOf("emesemem", 100)
	p := ix.planBounds(600, 1000, 10, 1<<40) // free 500 of 1,400: only 3 metrics
	// Oldest half e m e s: the first metric is kept (every other), then drops.
	if len(p.downsampled) != 0 {
		t.Fatalf("downsampled %v", p.downsampled)
	}
	diff(t, "dropped", []uint64{2, 6, 8}, p.dropped)
	if !p.overflow {
		t.Fatal("no overflow reported with only events left over the bound")
	}
	for _, e := range ix.e {
		if e.kind != KindMetrics && e.st != live {
			t.Fatalf("event %d chosen", e.seq)
		}
	}
}

func TestPlanBoundsDropsOldMetrics(t *testing.T) {
	ix := indexOf("mmemm", 10) // at 0..4
	p := ix.planBounds(0, 1<<20, 10, 7)
	diff(t, "dropped for age", []uint64{1, 2}, p.dropped)
	if len(p.downsampled) != 0 {
		t.Fatal(p.downsampled)
	}
}

func TestIndexRemoveCompacts(t *testing.T) {
	ix := indexOf(string(make([]byte, 200)), 1)
	for i := range uint64(150) {
		ix.remove(i + 1)
	}
	if len(ix.e) > 100 || ix.find(151) == nil || ix.find(10) != nil || ix.live != 50 {
		t.Fatalf("after removals: %d entries, %d live", len(ix.e), ix.live)
	}
}

// A full outbox thins and drops metrics, counts the loss across reopens,
// and keeps every task event.
func TestBoundsKeepEventsAndCountLoss(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxOutboxBytes = 64 << 10 })
	var events []uint64
	for i := range 300 {
		kind := KindMetrics
		if i%10 == 0 {
			kind = KindTaskEvent
		}
		r := mustAppend(t, h.s, kind, sized("tether/v1/r/nodes/n/metrics", 1000))
		if kind == KindTaskEvent {
			events = append(events, r.Seq)
		}
	}
	st := h.s.OutboxStats()
	if st.Bytes > 64<<10 || st.Downsampled == 0 || st.Overflow {
		t.Fatalf("stats over the bound: %+v", st)
	}
	h.reopen()
	st2 := h.s.OutboxStats()
	if st2.Downsampled != st.Downsampled || st2.DroppedMetrics != st.DroppedMetrics || st2.Count != st.Count {
		t.Fatalf("counters after reopen %+v, before %+v", st2, st)
	}
	var got []uint64
	for _, seq := range pendingSeqs(t, h.s) {
		if (seq-1)%10 == 0 {
			got = append(got, seq)
		}
	}
	diff(t, "task events kept", events, got)
	t.Logf("300 records of 1 KB in 64 KiB: %d kept, %d downsampled, %d dropped",
		st.Count, st.Downsampled, st.DroppedMetrics)
}

func TestBoundsOverflowWithOnlyEvents(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxOutboxBytes = 64 << 10 })
	for range 100 {
		mustAppend(t, h.s, KindTaskEvent, sized("a/b", 1000))
	}
	st := h.s.OutboxStats()
	if !st.Overflow || st.Count != 100 || st.DroppedMetrics+st.Downsampled != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// Metrics older than MaxOutboxAge go at the next commit, or at Run's
// housekeeping when nothing is written.
func TestAgeDropsOldMetrics(t *testing.T) {
	var elapsed atomic.Int64
	h := newHarness(t, func(o *Options) {
		o.MaxOutboxAge = time.Hour
		o.elapsed = func() time.Duration { return time.Duration(elapsed.Load()) }
	})
	for range 3 {
		mustAppend(t, h.s, KindMetrics, payload("a/b"))
	}
	mustAppend(t, h.s, KindTaskEvent, payload("a/b"))
	elapsed.Store(int64(2 * time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.s.Run(ctx) }()
	if !testenv.Within(5*time.Second, func() bool { return h.s.OutboxStats().DroppedMetrics >= 3 }) {
		t.Fatalf("old metrics not dropped: %+v", h.s.OutboxStats())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	diff(t, "left", []uint64{4}, pendingSeqs(t, h.s))
}
