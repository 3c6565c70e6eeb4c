package live

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tether-edge/tether/broker/place"
	"github.com/tether-edge/tether/broker/tasks"
	"github.com/tether-edge/tether/pkg/task"
)

// TestQueueChoosesTheSlotTheSimulatorChooses is a shared table: for each fleet state, the live
// sjf queue's node for the next task is the node place.SlotRule — the rule the simulator's
// queue orders bind by — chooses on the same state. Each row is a state of speeds, slots,
// busy slots and where the task's input lives, and the work queued ahead of the task.
func TestQueueChoosesTheSlotTheSimulatorChooses(t *testing.T) {
	type nodeRow struct {
		id, tier string
		slots    int
		speed    string
		busy     int // slots already holding a task
		// The busy tasks' work (100 when 0) and input from the site, which a cloud node's
		// tasks move over the WAN.
		busyWork  float64
		busyBytes int64
	}
	rows := []struct {
		name  string
		nodes []nodeRow
		input string // node holding the task's input, or "" for the site
		bytes int64
		work  float64
		ahead float64 // work queued before the task
		want  string  // "": the task waits
	}{
		{"faster node", []nodeRow{{"a", "edge", 1, "1", 0, 0, 0}, {"b", "edge", 1, "4", 0, 0, 0}}, "", 0, 8, 0, "b"},
		{"fast node full", []nodeRow{{"a", "edge", 1, "1", 0, 0, 0}, {"b", "edge", 1, "4", 1, 0, 0}}, "", 0, 8, 0, "a"},
		{"data stays put", []nodeRow{{"a", "edge", 1, "1", 0, 0, 0}, {"b", "edge", 1, "1.2", 0, 0, 0}}, "a", 100 << 20, 1, 0, "a"},
		{"data moves for speed", []nodeRow{{"a", "edge", 1, "0.5", 0, 0, 0}, {"b", "edge", 2, "4", 1, 0, 0}}, "a", 1 << 10, 40, 0, "b"},
		{"cloud when the edge is full", []nodeRow{{"a", "edge", 2, "1", 2, 0, 0}, {"c", "cloud", 8, "2", 0, 0, 0}}, "", 1 << 10, 20, 0, "c"},
		{"many nodes", []nodeRow{{"a", "edge", 4, "1", 3, 0, 0}, {"b", "edge", 4, "1", 0, 0, 0}, {"c", "edge", 4, "2", 4, 0, 0},
			{"d", "edge", 2, "1.5", 1, 0, 0}, {"e", "edge", 1, "0.6", 0, 0, 0}}, "e", 10 << 20, 6, 0, "d"},
		{"wait for the edge rather than a backed-up WAN", []nodeRow{{"a", "edge", 1, "1", 1, 1, 0},
			{"c", "cloud", 8, "2", 1, 1, 100 << 20}}, "", 1 << 20, 2, 0, ""},
		{"the queue ahead makes the cloud worth it", []nodeRow{{"a", "edge", 1, "1", 1, 1, 0},
			{"c", "cloud", 8, "2", 1, 1, 10 << 20}}, "", 1 << 10, 2, 40, "c"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			g := newRig(t, func(o *Options) { o.Policy = "sjf" })
			for _, n := range row.nodes {
				g.node(n.id, n.tier, n.slots, func(tn *tasks.Node) {
					tn.Labels = map[string]string{LabelSpeed: n.speed}
				})
			}
			for _, n := range row.nodes {
				for k := 0; k < n.busy; k++ {
					id := fmt.Sprintf("busy-%s-%d", n.id, k)
					work := n.busyWork
					if work == 0 {
						work = 100
					}
					g.assignTo(sleepTask(id, work, n.busyBytes, 0), n.id)
				}
			}
			spec := sleepTask("next", row.work, row.bytes, 0)
			spec.InputAt = row.input
			r := &tasks.Request{Task: spec.ID, Spec: &spec, Work: spec.Work, Submitted: g.now, Ahead: row.ahead}

			// The simulator's rule on the live scheduler's own state.
			var tk place.Task
			g.p.task(&tk, r)
			g.p.cur, g.p.req, g.p.avoid = g.cands(), r, ""
			i := place.SlotRule(g.p.fleet, place.NewTether(rand.New(rand.NewPCG(1, 1)), place.TetherOptions{}), &tk, row.ahead, g.p.now())
			g.p.cur, g.p.req = nil, nil
			sim := ""
			if i >= 0 {
				sim = g.p.fleet.Node(i).ID
			}

			live := g.placeRequest(r)
			if live != sim {
				t.Errorf("live sjf chose %q, the simulator's rule %q", live, sim)
			}
			if live != row.want {
				t.Errorf("both chose %q, want %q", live, row.want)
			}
		})
	}
}

// assignTo records spec as assigned to node id, as the engine does for an attempt it placed
// earlier, without asking the Placer.
func (g *rig) assignTo(spec task.Spec, id string) {
	g.t.Helper()
	r := &tasks.Request{Task: spec.ID, Spec: &spec, Work: spec.Work, Submitted: g.now}
	c := g.nodes[id]
	c.Outstanding += r.Work
	c.Tasks++
	g.on[spec.ID], g.reqs[spec.ID] = c, r
	g.p.AttemptAssigned(tasks.Attempt{Task: spec.ID, Attempt: 1, Node: id, Request: r})
}
