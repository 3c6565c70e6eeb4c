package taskengine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/task"
)

// TestReferencedBlobs: the blobs a pending task names, and the inputs and
// outputs of finished tasks (in the store, past a page of them), are
// referenced; a finished task's stop being once it ended before since.
func TestReferencedBlobs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("pi", func(n *NodeState) { n.TaskSlots = 4 })
	in := blob.Of([]byte("an input"))
	spec := func(id string) task.Spec {
		s := builtin(id, 1)
		s.Inputs = map[string]task.Input{"data": {Blob: in}}
		return s
	}
	outs := map[string]blob.ID{}
	const n = finishedPage + 3
	for i := range n {
		id := fmt.Sprintf("t%04d", i)
		h.submit(spec(id))
		out := blob.Of([]byte("output of " + id))
		outs[id] = out
		h.event("pi", id, 1, task.EventSucceeded, func(ev *task.Event) {
			ev.Result = &task.Result{Outputs: map[string]blob.ID{"out": out}}
		})
		h.do(func(e *Engine) { e.Announced(id) })
	}
	h.advance(time.Hour)
	pendingIn := blob.Of([]byte("a pending task's input"))
	p := builtin("pending", 1)
	p.Inputs = map[string]task.Input{"data": {Blob: pendingIn}}
	p.Constraints.Labels = map[string]string{"nobody": "has"}
	h.submit(p)

	collect := func(since time.Time) map[blob.ID]bool {
		got := map[blob.ID]bool{}
		add := func(id blob.ID) { got[id] = true }
		h.do(func(e *Engine) { e.referenced(add) })
		if err := finishedBlobs(context.Background(), h.st, since, add); err != nil {
			t.Fatal(err)
		}
		return got
	}
	all := collect(time.Time{})
	if !all[in] || !all[pendingIn] {
		t.Fatalf("inputs not referenced: finished tasks' %v, pending task's %v", all[in], all[pendingIn])
	}
	for id, out := range outs {
		if !all[out] {
			t.Fatalf("%s's output not referenced", id)
		}
	}
	recent := collect(h.now.Add(-time.Minute)) // every finished task ended an hour before
	if recent[in] || recent[outs["t0000"]] || !recent[pendingIn] {
		t.Fatalf("with since after the finished tasks: finished input %v, output %v, pending input %v",
			recent[in], recent[outs["t0000"]], recent[pendingIn])
	}
}

// TestBlobOwners: a result's outputs belong to the node of the task's last
// attempt, an input held on a node to that node; an input the scheduler
// holds has no owner; the finished tasks are read from the store past a
// page of them, the unfinished ones from what the store loaded.
func TestBlobOwners(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("pi-a", func(n *NodeState) { n.TaskSlots = 4 })
	const n = finishedPage + 2
	outs := map[blob.ID]string{}
	for i := range n {
		id := fmt.Sprintf("t%04d", i)
		h.submit(builtin(id, 1))
		out := blob.Of([]byte("output of " + id))
		outs[out] = "pi-a"
		h.event("pi-a", id, 1, task.EventSucceeded, func(ev *task.Event) {
			ev.Result = &task.Result{Outputs: map[string]blob.ID{"out": out}}
		})
		h.do(func(e *Engine) { e.Announced(id) })
	}
	atNode, atScheduler := blob.Of([]byte("held on pi-b")), blob.Of([]byte("held here"))
	p := builtin("pending", 1)
	p.Inputs = map[string]task.Input{"a": {Blob: atNode, From: task.FromNodePrefix + "pi-b"}, "b": {Blob: atScheduler}}
	p.Constraints.Labels = map[string]string{"nobody": "has"}
	h.submit(p)

	got := map[blob.ID]string{}
	h.restart()
	if err := BlobOwners(context.Background(), h.st, h.ld, func(id blob.ID, node string) { got[id] = node }); err != nil {
		t.Fatal(err)
	}
	if got[atNode] != "pi-b" {
		t.Errorf("input held on pi-b: owner %q", got[atNode])
	}
	if _, ok := got[atScheduler]; ok {
		t.Errorf("an input the scheduler holds has owner %q", got[atScheduler])
	}
	for out, node := range outs {
		if got[out] != node {
			t.Fatalf("output %s: owner %q, want %q", out, got[out], node)
		}
	}
}
