package runner

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/agent/store"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// fullDisk is the agent's store refusing journal writes with ErrDiskFull
// while full is set, as it does below a quarter of its disk reserve.
type fullDisk struct {
	Store
	full    atomic.Bool
	refused atomic.Int32 // terminal transitions refused
}

func (d *fullDisk) Journal(ctx context.Context, id string, t store.Transition, ckpt []byte,
	build func(seq uint64) (string, []byte, error)) (store.Record, error) {
	if d.full.Load() {
		if terminal(t.To) {
			d.refused.Add(1)
		}
		return store.Record{}, store.ErrDiskFull
	}
	return d.Store.Journal(ctx, id, t, ckpt, build)
}

// An attempt that ends while the disk is full keeps its end until the
// store takes it: it goes in once space is back, exactly once.
func TestAttemptEndWaitsForDiskSpace(t *testing.T) {
	var disk *fullDisk
	f := newFixture(t, func(o *Options) {
		disk = &fullDisk{Store: o.Store}
		o.Store = disk
	})
	spec := sleepSpec(10, 20, 0, false)
	f.submit(assignment("t1", 1, spec))
	f.waitState("t1", 1, task.EventRunning)
	disk.full.Store(true)
	testenv.Eventually(t, 20*time.Second, "the attempt's end tried twice while the disk was full", func() bool {
		return disk.refused.Load() >= 2 // the end, and one try again
	})
	for _, e := range of(f.events(), "t1") {
		if terminal(e.State) {
			t.Fatalf("an end event was stored while the disk was full: %+v", e)
		}
	}
	disk.full.Store(false)
	end := f.waitState("t1", 1, task.EventSucceeded)
	if end.Result == nil || end.Result.Output != expected(*spec.Builtin) {
		t.Fatalf("end event %+v, want the builtin's output", end)
	}
	n := 0
	for _, e := range of(f.events(), "t1") {
		if terminal(e.State) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d end events, want 1:\n%s", n, describe(of(f.events(), "t1")))
	}
}
