package sim

import (
	"testing"

	"github.com/tether-edge/tether/broker/place"
	"github.com/tether-edge/tether/broker/place/placetest"
)

// TestHoldTable: the simulator's tether places the shared table's task where the live
// scheduler does on the same state (place/live's TestHoldTable, the task engine with its
// Placer): on a node with a free slot, in a busy node's queue when the case's node_queue
// allows one, after taking a victim's slot for a deadline, or nowhere yet — held at the
// scheduler.
func TestHoldTable(t *testing.T) {
	for _, c := range placetest.Load(t, "tether_holds.json") {
		t.Run(c.Name, func(t *testing.T) {
			w, names := tableWorld(t, c, c.NodeQueue, true)
			tk := place.Task{Work: c.Task.Work, MemBytes: c.Task.MemMB * mib}
			if c.Task.DeadlineS > 0 {
				tk.Deadline = w.now + c.Task.DeadlineS
			}
			j := w.add(tk)
			node := ""
			if j.node >= 0 {
				node = c.Nodes[j.node].ID
			}
			victim := ""
			for v, name := range names {
				if v.state == jsWaiting {
					victim = name
				}
			}
			if node != c.Node || victim != c.Victim {
				t.Errorf("placed on %q, victim %q; want %q, victim %q", node, victim, c.Node, c.Victim)
			}
			held := len(w.held) > 0 && w.held[0] == j
			if (node == "") != held || (node != "") != (j.state == jsTransfer) {
				t.Errorf("task on %q in state %d, held %v", node, j.state, held)
			}
			for k, n := range w.nodes {
				if c.NodeQueue == 0 && len(n.queue) > 0 && n.queue[len(n.queue)-1] == j || w.fleet.Assigned(k) > n.prof.Cores+c.NodeQueue {
					t.Errorf("node %s: %d tasks recorded on %d slots and a queue of %d, the task queued there: %v",
						c.Nodes[k].ID, w.fleet.Assigned(k), n.prof.Cores, c.NodeQueue, len(n.queue) > 0 && n.queue[len(n.queue)-1] == j)
				}
			}
			if got := w.preempted; min(got, 1) != min(len(c.Victim), 1) {
				t.Errorf("%d preemptions, want a victim %q", got, c.Victim)
			}
		})
	}
}
