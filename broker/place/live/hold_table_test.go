package live

import (
	"strconv"
	"testing"

	"github.com/tether-edge/tether/broker/place/placetest"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// labelPin is the label by which the table's running tasks are pinned to their nodes.
const labelPin = "test.node"

// TestHoldTable: the task engine with the live Placer under the tether policy places the
// table's task where the shared table says — on a node with a free slot, in a busy node's
// queue when the engine's NodeQueue allows one, after taking a victim's slot for a deadline,
// or nowhere yet (pending at the scheduler) — which is what the simulator's tether does on
// the same state (broker/sim's TestHoldTable).
func TestHoldTable(t *testing.T) {
	for _, c := range placetest.Load(t, "tether_holds.json") {
		t.Run(c.Name, func(t *testing.T) {
			g := newQueueingRig(t, c.NodeQueue)
			for _, n := range c.Nodes {
				g.e.UpdateNode(taskengine.NodeState{ID: n.ID, Online: true, Instance: "i-" + n.ID, HasFacts: true,
					Tier: protocol.TierEdge, Cores: n.Cores, MemTotal: n.MemMB << 20, Labels: map[string]string{
						LabelSlots: strconv.Itoa(n.Cores), LabelSpeed: strconv.FormatFloat(n.Speed, 'g', -1, 64), labelPin: n.ID}})
			}
			g.take()
			for _, r := range c.Running {
				s := sleepTask(r.ID, r.Work, 0, seconds(r.DeadlineS))
				s.Checkpointable = r.Checkpointable
				s.Constraints.Labels = map[string]string{labelPin: r.Node}
				if n, rep := g.submit(s); n != r.Node {
					t.Fatalf("running task %s placed on %q (%+v), want %s", r.ID, n, rep, r.Node)
				}
				if r.Started {
					g.event(r.Node, r.ID, task.EventRunning, nil)
				}
			}
			g.now = g.now.Add(seconds(c.AfterS))
			s := sleepTask("next", c.Task.Work, 0, seconds(c.Task.DeadlineS))
			s.Resources.MemMB = c.Task.MemMB
			n, rep := g.submit(s)
			if !rep.OK {
				t.Fatalf("submit: %+v", rep)
			}
			victim := ""
			for _, r := range c.Running {
				if st := g.status[r.ID]; st.State == task.StatePending {
					victim = r.ID
				}
			}
			if n != c.Node || victim != c.Victim {
				t.Errorf("placed on %q, victim %q; want %q, victim %q", n, victim, c.Node, c.Victim)
			}
			if st := g.status["next"]; (n == "") != (st.State == task.StatePending) {
				t.Errorf("task on %q in state %s", n, st.State)
			}
			if got, want := g.e.Preempted(), uint64(len(c.Victim)); min(got, 1) != min(want, 1) {
				t.Errorf("%d preemptions, want a victim %q", got, c.Victim)
			}
		})
	}
}
