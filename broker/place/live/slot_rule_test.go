package live

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/place"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// TestQueueChoosesTheSlotTheSimulatorChooses is a shared table: for each fleet state, the live
// sjf and srtf queues' node for the next task is the node place.SlotRule — the rule the
// simulator's queue orders bind by — chooses on the same state (the busy slots' tasks cannot
// be preempted, so srtf binds as sjf does). Each row is a state of speeds, slots, busy slots
// and where the task's input lives, and the work queued ahead of the task.
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
		for _, policy := range []string{"sjf", "srtf"} {
			t.Run(policy+"/"+row.name, func(t *testing.T) {
				g := newRig(t, func(o *Options) { o.Policy = policy })
				for _, n := range row.nodes {
					g.node(n.id, n.tier, n.slots, func(tn *taskengine.NodeState) {
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
				r := &taskengine.Request{Task: spec.ID, Spec: &spec, Work: spec.Work, Submitted: g.now, Ahead: row.ahead}

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
					t.Errorf("live %s chose %q, the simulator's rule %q", policy, live, sim)
				}
				if live != row.want {
					t.Errorf("both chose %q, want %q", live, row.want)
				}
			})
		}
	}
}

// assignTo records spec as assigned to node id, as the engine does for an attempt it placed
// earlier, without asking the Placer.
func (g *rig) assignTo(spec task.Spec, id string) {
	g.t.Helper()
	r := &taskengine.Request{Task: spec.ID, Spec: &spec, Work: spec.Work, Submitted: g.now}
	c := g.nodes[id]
	c.Outstanding += r.Work
	c.Tasks++
	g.on[spec.ID], g.reqs[spec.ID] = c, r
	g.p.AttemptAssigned(taskengine.Attempt{Task: spec.ID, Attempt: 1, Node: id, Request: r})
}

// TestSRTFPreemptsWhereTheSimulatorDoes is a shared table for srtf's preemption: on each fleet
// state, with running checkpointable tasks, the live srtf queue binds the next task where the
// simulator's SRTF (place.Central's Submit, run on the live scheduler's own View) binds it,
// and preempts when it does. Each node runs its tasks (work each, started 5 s ago); the
// task's input comes from the site.
func TestSRTFPreemptsWhereTheSimulatorDoes(t *testing.T) {
	type nodeRow struct {
		id, tier string
		slots    int
		speed    string
		running  []float64 // work of the checkpointable tasks running there
	}
	rows := []struct {
		name    string
		nodes   []nodeRow
		bytes   int64
		work    float64
		want    string // "": the task waits
		preempt bool
	}{
		{"the longest yields", []nodeRow{{"a", "edge", 1, "1", []float64{50}}, {"b", "edge", 1, "1", []float64{80}},
			{"c", "edge", 2, "1", []float64{60, 70}}}, 0, 10, "b", true},
		{"shorter tasks keep their slots", []nodeRow{{"a", "edge", 1, "1", []float64{12}}, {"b", "edge", 1, "1", []float64{14}}},
			0, 10, "", false},
		{"a free slot, no preemption", []nodeRow{{"a", "edge", 1, "1", []float64{500}}, {"b", "edge", 2, "1", []float64{500}}},
			0, 10, "b", false},
		{"preempting at the edge beats the WAN", []nodeRow{{"a", "edge", 1, "1", []float64{100}}, {"c", "cloud", 8, "2", nil}},
			10 << 20, 2, "a", true},
		{"the cloud beats preempting", []nodeRow{{"a", "edge", 1, "1", []float64{100}}, {"c", "cloud", 8, "4", nil}},
			1 << 10, 40, "c", false},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			g := newRig(t, func(o *Options) { o.Policy = "srtf" })
			for _, n := range row.nodes {
				g.node(n.id, n.tier, n.slots, func(tn *taskengine.NodeState) {
					tn.Labels = map[string]string{LabelSpeed: n.speed}
				})
			}
			for _, n := range row.nodes {
				for k, w := range n.running {
					s := sleepTask(fmt.Sprintf("run-%s-%d", n.id, k), w, 0, 0)
					s.Checkpointable = true
					g.assignTo(s, n.id)
					g.running(s.ID)
				}
			}
			g.advance(5 * time.Second)
			spec := sleepTask("next", row.work, row.bytes, 0)
			r := &taskengine.Request{Task: spec.ID, Spec: &spec, Work: spec.Work, Submitted: g.now}

			// The live decision, not recorded: the simulator decides on the same View.
			live, preempted := "", false
			if c := g.p.Place(r, g.cands()); c != nil {
				live = c.ID
			} else {
				if id, _, ok := g.p.Victim(r, g.cands()); ok {
					live, preempted = g.on[id].ID, true
				}
			}

			// The simulator's SRTF on the same View (it changes the View: last).
			var tk place.Task
			g.p.task(&tk, r)
			tk.Allow = nil
			c := place.NewCentral("srtf", place.OrderSRTF, place.CentralOptions{
				Slots: place.NewTether(rand.New(rand.NewPCG(1, 1)), place.TetherOptions{})})
			sim, simPreempted := "", false
			for _, a := range c.Submit(g.p.fleet, &tk, g.p.now(), nil) {
				switch a.Kind {
				case place.Preempt:
					simPreempted = true
				case place.Bind:
					sim = g.p.fleet.Node(a.Node).ID
				}
			}
			if live != sim || preempted != simPreempted {
				t.Errorf("live srtf: %q (preempting %v), the simulator's: %q (preempting %v)", live, preempted, sim, simPreempted)
			}
			if live != row.want || preempted != row.preempt {
				t.Errorf("both chose %q (preempting %v), want %q (%v)", live, preempted, row.want, row.preempt)
			}
		})
	}
}

// TestEDFAdmitsWhereTheSimulatorDoes is a shared table for edf's admission: on each state —
// one node of 2 slots at speed 1, both busy with 10 units each, and tasks waiting — the live
// edf queue admits the next task exactly when the simulator's EDF (place.Central's Submit,
// run on the live scheduler's own View, the waiting tasks submitted to it first) does.
func TestEDFAdmitsWhereTheSimulatorDoes(t *testing.T) {
	type pend struct {
		work float64
		due  time.Duration // 0: none
	}
	rows := []struct {
		name    string
		pending []pend
		work    float64
		due     time.Duration
		admit   bool
	}{
		{"in time behind the placed work", nil, 10, 16 * time.Second, true},
		{"too late behind the placed work", nil, 10, 14 * time.Second, false},
		{"ahead of a task due later, which stays in time", []pend{{4, 20 * time.Second}}, 10, 16 * time.Second, true},
		{"ahead of a task due later, which it makes late", []pend{{4, 16500 * time.Millisecond}}, 10, 16 * time.Second, false},
		{"behind a task due earlier", []pend{{4, 13 * time.Second}}, 10, 16 * time.Second, false},
		{"a task without a deadline is not ahead", []pend{{100, 0}}, 10, 16 * time.Second, true},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			g := newRig(t, func(o *Options) { o.Policy = "edf" })
			g.node("pi", protocol.TierEdge, 2)
			g.assignTo(sleepTask("busy-0", 10, 0, 0), "pi")
			g.assignTo(sleepTask("busy-1", 10, 0, 0), "pi")
			c := place.NewCentral("edf", place.OrderEDF, place.CentralOptions{
				Slots: place.NewTether(rand.New(rand.NewPCG(1, 1)), place.TetherOptions{})})
			var pending []*taskengine.Request
			for k, p := range row.pending {
				s := sleepTask(fmt.Sprintf("p%d", k), p.work, 0, p.due)
				r := &taskengine.Request{Task: s.ID, Spec: &s, Work: s.Work, Submitted: g.now}
				pending = append(pending, r)
				var tk place.Task
				g.p.task(&tk, r)
				tk.ID, tk.Allow = uint64(k+1), nil
				if acts := c.Submit(g.p.fleet, &tk, g.p.now(), nil); len(acts) != 0 {
					t.Fatalf("the simulator did not queue %s: %+v", s.ID, acts)
				}
			}
			s := sleepTask("next", row.work, 0, row.due)
			r := &taskengine.Request{Task: s.ID, Spec: &s, Work: s.Work, Submitted: g.now}
			err := (&Queued{g.p}).Admit(r, slices.Values(pending))

			var tk place.Task
			g.p.task(&tk, r)
			tk.ID, tk.Allow = uint64(len(pending)+1), nil
			simAdmits := true
			for _, a := range c.Submit(g.p.fleet, &tk, g.p.now(), nil) {
				if a.Kind == place.Reject {
					simAdmits = false
				}
			}
			if (err == nil) != simAdmits {
				t.Errorf("live admits %v (%v), the simulator %v", err == nil, err, simAdmits)
			}
			if (err == nil) != row.admit {
				t.Errorf("both admit %v, want %v", err == nil, row.admit)
			}
		})
	}
}
