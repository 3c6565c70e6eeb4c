package live

import (
	"strconv"
	"testing"

	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// queueRig is an engine with NodeQueue 1 under policy, over a slow node "a" with a free slot
// and a fast node "b" whose one slot runs a task that ends in a second: Tether finishes the
// next task sooner in b's queue than on a.
func queueRig(t *testing.T, policy string) *engineRig {
	g := newQueueingRig(t, 1, func(o *Options) { o.Policy = policy })
	for _, n := range []struct {
		id    string
		speed float64
	}{{"a", 1}, {"b", 4}} {
		g.e.UpdateNode(taskengine.NodeState{ID: n.id, Online: true, Instance: "i-" + n.id, HasFacts: true, Tier: protocol.TierEdge,
			Cores: 1, MemTotal: 4 << 30, Labels: map[string]string{LabelSlots: "1",
				LabelSpeed: strconv.FormatFloat(n.speed, 'g', -1, 64), labelPin: n.id}})
	}
	g.take()
	s := sleepTask("r1", 8, 0, 0)
	s.Constraints.Labels = map[string]string{labelPin: "b"}
	if n, rep := g.submit(s); n != "b" {
		t.Fatalf("running task placed on %q (%+v), want b", n, rep)
	}
	g.event("b", "r1", task.EventRunning, nil)
	g.now = g.now.Add(seconds(1))
	return g
}

// TestNodeQueueIsTethers: with the engine's NodeQueue, Tether commits a task to a busy node's
// queue when it is done there sooner, and no further than the queue's bound; a task naming
// another dispatch policy, and a central queue, take a free slot only.
func TestNodeQueueIsTethers(t *testing.T) {
	g := queueRig(t, "tether")
	if n, rep := g.submit(sleepTask("t1", 10, 0, 0)); n != "b" {
		t.Fatalf("tether placed the task on %q (%+v), want b's queue", n, rep)
	}
	if n, rep := g.submit(sleepTask("t2", 10, 0, 0)); n != "a" {
		t.Fatalf("with b's queue full tether placed the next on %q (%+v), want a", n, rep)
	}
	if n, rep := g.submit(sleepTask("t3", 10, 0, 0)); n != "a" {
		t.Fatalf("with b's queue full and a's slot taken tether placed the next on %q (%+v), want a's queue", n, rep)
	}
	if n, rep := g.submit(sleepTask("t4", 10, 0, 0)); n != "" || rep.State != task.StatePending {
		t.Fatalf("with every slot and queue taken the task went to %q (%+v), want pending", n, rep)
	}

	g = queueRig(t, "tether")
	s := sleepTask("t1", 10, 0, 0)
	s.Policy = "least-work"
	if n, rep := g.submit(s); n != "a" {
		t.Fatalf("least-work placed the task on %q (%+v), want a's free slot", n, rep)
	}

	g = queueRig(t, "fifo")
	if n, rep := g.submit(sleepTask("t1", 10, 0, 0)); n != "a" {
		t.Fatalf("fifo placed the task on %q (%+v), want a's free slot", n, rep)
	}
	if n, rep := g.submit(sleepTask("t2", 10, 0, 0)); n != "" || rep.State != task.StatePending {
		t.Fatalf("fifo with every slot taken placed the task on %q (%+v), want pending", n, rep)
	}
}
