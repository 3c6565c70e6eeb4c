//go:build unix

package runner

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// gatedBlobs is localBlobs whose Fetch of a blob waits until the test
// opens its gate (a transfer in progress), and counts the fetches.
type gatedBlobs struct {
	localBlobs
	mu      sync.Mutex
	fetches map[blob.ID]int
	gate    chan struct{}
}

func (g *gatedBlobs) Fetch(ctx context.Context, id blob.ID) error {
	g.mu.Lock()
	g.fetches[id]++
	g.mu.Unlock()
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.localBlobs.Fetch(ctx, id)
}

func (g *gatedBlobs) count(id blob.ID) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fetches[id]
}

// TestQueuedTaskInputsFetchedAhead: with one slot taken by a long task, a
// queued task's input is fetched while it waits, not once its turn comes
// (a node the scheduler queues tasks on then overlaps the transfer with
// the running task); the queued task starts on it and succeeds. A queued
// task cancelled while its input is being fetched ends the fetch.
func TestQueuedTaskInputsFetchedAhead(t *testing.T) {
	local, ids := newBlobs(t, []byte("the queued task's input\n"), []byte("another input\n"))
	g := &gatedBlobs{localBlobs: local, fetches: map[blob.ID]int{}, gate: make(chan struct{})}
	f := newFixture(t, func(o *Options) { o.Slots = 1; o.Blobs = g })
	f.submit(assignment("long", 1, sleepSpec(100, 20, 0, false))) // 2 s
	f.waitState("long", 1, task.EventRunning)
	hash := func(in blob.ID) task.Spec {
		return task.Spec{Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinSHA256},
			Inputs: map[string]task.Input{"data": {Blob: in}}, Outputs: []string{task.SHA256Output}}
	}
	f.submit(assignment("cancelled", 1, hash(ids[1])))
	f.waitState("cancelled", 1, task.EventAccepted)
	testenv.Eventually(t, time.Second, "the first queued task's input asked for while long runs", func() bool { return g.count(ids[1]) == 1 })
	f.submit(assignment("queued", 1, hash(ids[0])))
	f.waitState("queued", 1, task.EventAccepted)
	f.submit(cancelAssignment("cancelled", 1)) // its fetch, at the gate, ends; the next task's begins
	f.waitState("cancelled", 1, task.EventCancelled)
	testenv.Eventually(t, time.Second, "the next queued task's input asked for while long runs", func() bool { return g.count(ids[0]) == 1 })
	if states(of(f.events(), "long"))[len(states(of(f.events(), "long")))-1] != task.EventRunning {
		t.Fatal("long ended before the queued task's input was asked for: nothing was fetched ahead")
	}
	close(g.gate)
	ev := f.waitState("queued", 1, task.EventSucceeded)
	if ev.Result == nil || ev.Result.Output != hexSum([]byte("the queued task's input\n")) {
		t.Fatalf("queued task's result %+v", ev.Result)
	}
	f.waitState("long", 1, task.EventSucceeded)
	if n := g.count(ids[0]); n != 2 {
		t.Fatalf("the queued task's input fetched %d times, want twice (ahead, then a no-op at its start)", n)
	}
}

// TestResultTellsTheInputFetchFromTheRun: an attempt whose input comes over
// a slow path reports the time it spent getting it (fetch_ms) within its
// wall time (duration_ms), the run after it apart: the scheduler learns
// the node's speed from the run alone. A task without inputs reports no
// fetch.
func TestResultTellsTheInputFetchFromTheRun(t *testing.T) {
	local, ids := newBlobs(t, []byte("an input on a slow path\n"))
	g := &gatedBlobs{localBlobs: local, fetches: map[blob.ID]int{}, gate: make(chan struct{})}
	f := newFixture(t, func(o *Options) { o.Blobs = g })
	spec := sleepSpec(3, 100, 0, false) // 300 ms of work
	spec.Inputs = map[string]task.Input{"data": {Blob: ids[0]}}
	f.submit(assignment("slow-input", 1, spec))
	testenv.Eventually(t, 5*time.Second, "the input asked for", func() bool { return g.count(ids[0]) == 1 })
	const transfer = 600 * time.Millisecond
	time.Sleep(transfer) // kept: the input's transfer lasting this long is what the result must report
	close(g.gate)
	if r := f.waitState("slow-input", 1, task.EventSucceeded).Result; r == nil || r.FetchMS < transfer.Milliseconds() || r.DurationMS-r.FetchMS < 300 {
		t.Fatalf("result %+v: want fetch_ms ≥ %d, and duration_ms at least 300 more", r, transfer.Milliseconds())
	}

	f.submit(assignment("no-input", 1, sleepSpec(1, 10, 0, false)))
	if r := f.waitState("no-input", 1, task.EventSucceeded).Result; r == nil || r.FetchMS != 0 {
		t.Fatalf("result %+v of a task without inputs: want no fetch_ms", r)
	}
}
