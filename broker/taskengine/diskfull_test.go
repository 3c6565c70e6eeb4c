package taskengine

import (
	"testing"

	"github.com/tether-edge/tether/pkg/task"
)

// A node whose disk is full takes no new task; one already there stays;
// once it has space again the waiting task is placed there.
func TestDiskFullNodeTakesNoNewTask(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("a", func(n *NodeState) { n.TaskSlots = 4 })
	h.submit(builtin("before", 10))
	if got := h.task("before"); got.Node != "a" {
		t.Fatalf("before on %q, want a", got.Node)
	}
	h.event("a", "before", 1, task.EventRunning)
	h.node("a", func(n *NodeState) { n.TaskSlots, n.DiskFull = 4, true })
	h.submit(builtin("during", 10))
	if got := h.task("during"); got.Node != "" || got.State != task.StatePending {
		t.Fatalf("during: %s on %q, want pending on no node", got.State, got.Node)
	}
	if got := h.task("before"); got.Node != "a" || got.State != task.StateRunning || got.Attempt != 1 {
		t.Fatalf("before: %s on %q attempt %d, want running on a, attempt 1", got.State, got.Node, got.Attempt)
	}
	h.node("a", func(n *NodeState) { n.TaskSlots = 4 })
	h.tick(0)
	if got := h.task("during"); got.Node != "a" {
		t.Fatalf("during on %q once the disk has space, want a", got.Node)
	}
}
