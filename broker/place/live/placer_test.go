package live

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/broker/place/links"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// site is two edge nodes of two slots and a cloud node of eight behind a 160 ms, 20 Mbit/s
// WAN: the end-to-end test's site.
func site(t *testing.T, mods ...func(*Options)) *rig {
	g := newRig(t, mods...)
	g.node("edge-a", protocol.TierEdge, 2)
	g.node("edge-b", protocol.TierEdge, 2)
	g.node("cloud-1", protocol.TierCloud, 8)
	return g
}

// saturate fills the edge with four edge-pinned tasks of work units each, running.
func saturate(g *rig, work float64) {
	g.t.Helper()
	for _, s := range specs("long", 4, func(id string) task.Spec {
		s := sleepTask(id, work, 2e6, 0)
		s.Constraints.Tier = task.TierEdge
		return s
	}) {
		if n := g.place(s); !strings.HasPrefix(n, "edge-") {
			g.t.Fatalf("edge-pinned %s placed on %q", s.ID, n)
		}
		g.running(s.ID)
	}
}

func TestIdleEdgeKeepsItsTasks(t *testing.T) {
	g := site(t)
	// Edge: 2 ms + 2 MB at 100 Mbit/s = 0.16 s in, then 2 s; cloud: 160 ms + 0.8 s in.
	got := g.placeAll(specs("idle", 4, func(id string) task.Spec { return sleepTask(id, 2, 2e6, 20*time.Second) })...)
	if diff := cmp.Diff(map[string]int{"edge-a": 2, "edge-b": 2}, got); diff != "" {
		t.Errorf("placements (-want +got):\n%s", diff)
	}
}

func TestSaturatedEdgeOffloadsWhatItCannotFinishInTime(t *testing.T) {
	g := site(t)
	saturate(g, 15)
	g.advance(time.Second)
	// Every edge slot is busy for 14 s more: a 1 s task due in 4 s can only meet its deadline
	// in the cloud (160 ms + 0.08 s in, 1 s, 160 ms back).
	got := g.placeAll(specs("short", 6, func(id string) task.Spec { return sleepTask(id, 1, 2e5, 4*time.Second) })...)
	if diff := cmp.Diff(map[string]int{"cloud-1": 6}, got); diff != "" {
		t.Errorf("placements (-want +got):\n%s", diff)
	}
}

func TestBusyEdgeKeepsWhatTheCloudCannotBeat(t *testing.T) {
	g := site(t)
	saturate(g, 3)
	// 20 MB take 8 s up the WAN; the busy edge is done in 4 s.
	if n := g.place(sleepTask("big-input", 1, 20e6, 30*time.Second)); n != "edge-a" && n != "edge-b" {
		t.Errorf("placed on %q, want the edge", n)
	}
}

func TestBurstSpillsToTheCloud(t *testing.T) {
	g := site(t)
	// Sixteen 2 s tasks due in 6 s: four fill the edge's slots (done at 2.2 s); the cloud's
	// eight slots finish the next ones sooner (2.3 to 2.9 s, uploads queued on the WAN) than
	// the edge's second round (4.3 s), which takes the last four, still in time.
	got := g.placeAll(specs("burst", 16, func(id string) task.Spec { return sleepTask(id, 2, 2e5, 6*time.Second) })...)
	if diff := cmp.Diff(map[string]int{"edge-a": 4, "edge-b": 4, "cloud-1": 8}, got); diff != "" {
		t.Errorf("placements (-want +got):\n%s", diff)
	}
}

func TestLearnsNodeSpeedFromCompletions(t *testing.T) {
	g := newRig(t)
	g.node("edge-a", protocol.TierEdge, 2)
	g.node("edge-b", protocol.TierEdge, 2)
	if n := g.place(sleepTask("probe", 2, 0, 0)); n != "edge-a" {
		t.Fatalf("first task on %s, want edge-a (ties go to the first node)", n)
	}
	g.running("probe")
	g.advance(8 * time.Second)
	g.succeed("probe", 8*time.Second) // 2 units in 8 s: a quarter of its declared speed
	if r := g.p.fleet.Rate(g.index("edge-a"), g.p.classes["sleep"]); r < 0.249 || r > 0.251 {
		t.Fatalf("learned rate %v, want 0.25", r)
	}
	// edge-b is faster even with two tasks queued ahead: 2 + 2 s against 8 s.
	got := g.placeAll(specs("next", 3, func(id string) task.Spec { return sleepTask(id, 2, 0, 0) })...)
	if diff := cmp.Diff(map[string]int{"edge-b": 3}, got); diff != "" {
		t.Errorf("placements (-want +got):\n%s", diff)
	}
}

func TestLearnsFromWorkDoneAfterAResume(t *testing.T) {
	g := newRig(t)
	g.node("edge-a", protocol.TierEdge, 2)
	g.place(sleepTask("t", 4, 0, 0)) // 40 units of 0.1 work
	g.running("t")
	g.advance(time.Minute) // the end reaches the scheduler late
	// The node's agent restarted mid-attempt: its last run did 10 units in 1 s.
	g.end("t", &task.Result{DurationMS: 1000, WorkDone: 10})
	if r := g.p.fleet.Rate(g.index("edge-a"), g.p.classes["sleep"]); r < 0.999 || r > 1.001 {
		t.Errorf("learned rate %v, want 1 (1 work unit in 1 s)", r)
	}
}

func TestAvoidsThrottledAndUndervoltedNodes(t *testing.T) {
	for _, flag := range []func(*taskengine.NodeState){
		func(n *taskengine.NodeState) { n.Throttled = true },
		func(n *taskengine.NodeState) { n.Undervoltage = true },
	} {
		g := newRig(t)
		g.node("edge-a", protocol.TierEdge, 2, flag)
		g.node("edge-b", protocol.TierEdge, 2)
		got := g.placeAll(specs("t", 2, func(id string) task.Spec { return sleepTask(id, 2, 0, 0) })...)
		if diff := cmp.Diff(map[string]int{"edge-b": 2}, got); diff != "" {
			t.Errorf("placements (-want +got):\n%s", diff)
		}
	}
}

func TestBackgroundLoad(t *testing.T) {
	busy := func(n *taskengine.NodeState) { n.CPU = 0.9 }
	g := newRig(t)
	g.node("edge-a", protocol.TierEdge, 2, busy)
	g.node("edge-b", protocol.TierEdge, 2)
	if got := g.p.fleet.Reported(g.index("edge-a")).BgLoad; got != 0.9 {
		t.Errorf("background load %v, want 0.9", got)
	}
	if n := g.place(sleepTask("t1", 1, 0, 0)); n != "edge-b" {
		t.Errorf("placed on %s, want edge-b: edge-a is 90 %% busy with other work", n)
	}
	// The scheduler's own running tasks are not background load: edge-b, its one task
	// running and reporting half its CPU busy, has none.
	g.running("t1")
	g.node("edge-b", protocol.TierEdge, 2, func(n *taskengine.NodeState) { n.CPU = 0.5 })
	if got := g.p.fleet.Reported(g.index("edge-b")).BgLoad; got != 0 {
		t.Errorf("edge-b's background load %v, want 0", got)
	}

	g = newRig(t, func(o *Options) { o.IgnoreLoad = true })
	g.node("edge-a", protocol.TierEdge, 2, busy)
	g.node("edge-b", protocol.TierEdge, 2)
	if n := g.place(sleepTask("t1", 1, 0, 0)); n != "edge-a" {
		t.Errorf("ignoring load: placed on %s, want edge-a", n)
	}
}

func TestEngineConstraints(t *testing.T) {
	g := newRig(t)
	for k := range 1000 {
		g.node(fmt.Sprintf("n-%04d", k), protocol.TierEdge, 2)
	}
	g.node("n-gpu", protocol.TierEdge, 2, func(n *taskengine.NodeState) { n.Labels = map[string]string{"gpu": "yes"} })
	g.node("cloud-1", protocol.TierCloud, 8)
	// One node of 1001 has the label: almost surely outside Tether's candidates; found by
	// the exhaustive fallback.
	gpu := sleepTask("gpu", 1, 0, 0)
	gpu.Constraints.Labels = map[string]string{"gpu": "yes"}
	if n := g.place(gpu); n != "n-gpu" {
		t.Errorf("label constraint: placed on %q, want n-gpu", n)
	}
	gpu.ID = "gpu-2"
	gpu.Constraints.Labels = map[string]string{"gpu": "no"}
	if n := g.place(gpu); n != "" {
		t.Errorf("no node has the label: placed on %q", n)
	}
	// Reserved millicores: two cores hold one 1500-millicore task.
	cpu := sleepTask("cpu-1", 1, 0, 0)
	cpu.Resources.CPUMillis = 1500
	first := g.place(cpu)
	cpu.ID = "cpu-2"
	if second := g.place(cpu); second == first || second == "" {
		t.Errorf("two 1500-millicore tasks on %q and %q", first, second)
	}
	// Tier.
	cl := sleepTask("cloud-only", 1, 0, 0)
	cl.Constraints.Tier = task.TierCloud
	if n := g.place(cl); n != "cloud-1" {
		t.Errorf("cloud-only task on %q", n)
	}
}

func TestAvoidsTheNodeAnEarlierAttemptLeft(t *testing.T) {
	g := newRig(t)
	g.node("edge-a", protocol.TierEdge, 2)
	g.node("edge-b", protocol.TierEdge, 2)
	s := sleepTask("t", 1, 0, 0)
	r := &taskengine.Request{Task: "t", Spec: &s, Work: 1, Submitted: g.now, Avoid: "edge-a"}
	if c := g.p.Place(r, g.cands()); c == nil || c.ID != "edge-b" {
		t.Errorf("placed on %v, want edge-b", c)
	}
	// The node to avoid when no other fits.
	r.Avoid = "edge-b"
	s.Constraints.Labels = map[string]string{"x": "1"}
	g.node("edge-b", protocol.TierEdge, 2, func(n *taskengine.NodeState) { n.Labels = map[string]string{"x": "1"} })
	r = &taskengine.Request{Task: "t", Spec: &s, Work: 1, Submitted: g.now, Avoid: "edge-b"}
	if c := g.p.Place(r, g.cands()); c == nil || c.ID != "edge-b" {
		t.Errorf("placed on %v, want edge-b, the only node that fits", c)
	}
}

// TestLeastWorkPolicy: least-work places on the node with the least outstanding work by the
// engine's record (equal capacity here), on the node to avoid only when no other fits, and
// nowhere when no node fits.
func TestLeastWorkPolicy(t *testing.T) {
	g := newRig(t, func(o *Options) { o.Policy = "least-work" })
	for _, id := range []string{"edge-a", "edge-b", "edge-c", "edge-d"} {
		g.node(id, protocol.TierEdge, 4)
	}
	// Charge work as the engine does once it assigned an attempt: edge-a 3, edge-b 2, edge-c 1.
	for i, id := range []string{"edge-a", "edge-b", "edge-c"} {
		s := sleepTask("held-"+id, float64(3-i), 0, 0)
		r := &taskengine.Request{Task: s.ID, Spec: &s, Work: s.Work, Submitted: g.now}
		c := g.nodes[id]
		c.Outstanding += r.Work
		c.Tasks++
		g.on[s.ID], g.reqs[s.ID] = c, r
		g.p.AttemptAssigned(taskengine.Attempt{Task: s.ID, Attempt: 1, Node: id, Request: r})
	}
	s := sleepTask("t", 1, 0, 0)
	place := func(r *taskengine.Request) string {
		if c := g.p.Place(r, g.cands()); c != nil {
			return c.ID
		}
		return ""
	}
	if n := place(&taskengine.Request{Task: "t", Spec: &s, Work: 1, Submitted: g.now}); n != "edge-d" {
		t.Errorf("placed on %q, want edge-d (least work)", n)
	}
	if n := place(&taskengine.Request{Task: "t", Spec: &s, Work: 1, Submitted: g.now, Avoid: "edge-d"}); n != "edge-c" {
		t.Errorf("avoiding edge-d placed on %q, want edge-c", n)
	}
	g.node("edge-d", protocol.TierEdge, 4, func(n *taskengine.NodeState) { n.Labels = map[string]string{"x": "1"} })
	only := sleepTask("only", 1, 0, 0)
	only.Constraints.Labels = map[string]string{"x": "1"}
	if n := place(&taskengine.Request{Task: "only", Spec: &only, Work: 1, Submitted: g.now, Avoid: "edge-d"}); n != "edge-d" {
		t.Errorf("the avoided node, the only one that fits: placed on %q", n)
	}
	cl := sleepTask("cloud-only", 1, 0, 0)
	cl.Constraints.Tier = task.TierCloud
	if n := place(&taskengine.Request{Task: "cloud-only", Spec: &cl, Work: 1, Submitted: g.now}); n != "" {
		t.Errorf("placed on %q with no node fitting", n)
	}
}

func TestInputLocality(t *testing.T) {
	g := site(t)
	// 50 MB held on edge-b: moving it anywhere costs seconds.
	s := sleepTask("local", 1, 50e6, 0)
	s.InputAt = "edge-b"
	if n := g.place(s); n != "edge-b" {
		t.Errorf("input on edge-b: placed on %s", n)
	}
	s = sleepTask("in-cloud", 1, 50e6, 0)
	s.InputAt = task.InputCloud
	if n := g.place(s); n != "cloud-1" {
		t.Errorf("input in the cloud: placed on %s", n)
	}
}

func TestPolicyPerSchedulerAndPerTask(t *testing.T) {
	g := site(t, func(o *Options) { o.Policy = "round-robin" })
	var got []string
	for _, s := range specs("rr", 4, func(id string) task.Spec { return sleepTask(id, 1, 0, 0) }) {
		got = append(got, g.place(s))
	}
	// Round robin in fleet order: edge-a, edge-b, cloud-1.
	if diff := cmp.Diff([]string{"edge-a", "edge-b", "cloud-1", "edge-a"}, got); diff != "" {
		t.Errorf("round robin (-want +got):\n%s", diff)
	}
	// A task naming tether is placed by the cost model: an idle edge node, not the next in turn
	// (edge-b).
	s := sleepTask("tether", 1, 2e6, 0)
	s.Policy = "tether"
	if n := g.place(s); n == "cloud-1" {
		t.Errorf("tether task placed on %s", n)
	}
	if err := g.p.CheckPolicy("weighted-random"); err != nil {
		t.Errorf("weighted-random: %v", err)
	}
	err := g.p.CheckPolicy("fastest")
	const names = "least-loaded, least-work, p2c, random, round-robin (rr), tether, weighted-random (wrandom)"
	if err == nil || !strings.Contains(err.Error(), names) {
		t.Errorf("unknown policy: %v; want the names %s", err, names)
	}
	if _, err := New(Options{Policy: "oracle"}); err == nil || !strings.Contains(err.Error(), "not one the live scheduler runs") {
		t.Errorf("New with the simulator's oracle: %v", err)
	}
	if _, err := New(Options{Policy: "srtf", NoPreempt: true}); err == nil || !strings.Contains(err.Error(), "srtf preempts by definition") {
		t.Errorf("New with srtf and preemption off: %v", err)
	}
	if _, err := New(Options{Policy: "fastest"}); err == nil || !strings.Contains(err.Error(), `unknown placement policy "fastest"`) {
		t.Errorf("New with an unknown policy: %v", err)
	}
	if err := g.p.CheckPolicy("sjf"); err == nil || !strings.Contains(err.Error(), "the scheduler's choice") {
		t.Errorf("a task naming a queue order: %v", err)
	}
	if diff := cmp.Diff([]string{"edf", "fifo", "least-loaded", "least-work", "p2c", "priority", "random", "round-robin", "rr",
		"sjf", "srtf", "tether", "weighted-random", "wrandom"}, Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
}

func TestOfflineNodeKeepsItsRecordWithinTheGrace(t *testing.T) {
	g := newRig(t)
	g.node("edge-a", protocol.TierEdge, 2)
	g.node("edge-b", protocol.TierEdge, 2)
	g.place(sleepTask("t1", 5, 0, 0)) // edge-a
	g.node("edge-a", protocol.TierEdge, 2, func(n *taskengine.NodeState) { n.Online = false })
	if n := g.place(sleepTask("t2", 1, 0, 0)); n != "edge-b" {
		t.Errorf("placed on %s while edge-a is offline", n)
	}
	g.node("edge-a", protocol.TierEdge, 2)
	if got := g.p.fleet.Outstanding(g.index("edge-a")); got != 5 {
		t.Errorf("edge-a back with %v outstanding, want 5", got)
	}
	g.end("t1", nil) // lost past the grace, or cancelled: no learning
	if got := g.p.fleet.Outstanding(g.index("edge-a")); got != 0 {
		t.Errorf("edge-a has %v outstanding after the end", got)
	}
}

// After a restart the engine tells of attempts before any node: they count once the node
// is heard of.
func TestAttemptsBeforeTheirNode(t *testing.T) {
	g := newRig(t)
	s := sleepTask("old", 3, 0, 0)
	g.p.AttemptAssigned(taskengine.Attempt{Task: "old", Attempt: 2, Node: "edge-a",
		Request: &taskengine.Request{Task: "old", Spec: &s, Work: 3, Submitted: t0.Add(-time.Hour)}, Started: t0.Add(-time.Minute)})
	gone := sleepTask("gone", 1, 0, 0)
	g.p.AttemptAssigned(taskengine.Attempt{Task: "gone", Attempt: 1, Node: "never", Request: &taskengine.Request{Task: "gone", Spec: &gone, Work: 1}})
	g.p.AttemptEnded("gone", 1, nil)
	if len(g.p.orphans) != 1 || len(g.p.orphans["edge-a"]) != 1 {
		t.Errorf("orphans %v", g.p.orphans)
	}
	g.node("edge-a", protocol.TierEdge, 2)
	i := g.index("edge-a")
	if g.p.fleet.Assigned(i) != 1 || g.p.fleet.Outstanding(i) != 3 || len(g.p.orphans) != 0 {
		t.Fatalf("edge-a: %d tasks, %v outstanding; orphans %v", g.p.fleet.Assigned(i), g.p.fleet.Outstanding(i), g.p.orphans)
	}
	g.p.AttemptEnded("old", 1, nil) // another attempt's end changes nothing
	g.p.AttemptEnded("old", 2, &task.Result{DurationMS: 3000, WorkDone: 30})
	if g.p.fleet.Assigned(i) != 0 {
		t.Errorf("edge-a still has %d tasks", g.p.fleet.Assigned(i))
	}
}

// A Placer that was told nothing brings its fleet in line with the candidates it is given.
func TestPlaceWithoutObserverCalls(t *testing.T) {
	g := newRig(t)
	a := &taskengine.Candidate{NodeState: taskengine.NodeState{ID: "a", Online: true, HasFacts: true, Tier: protocol.TierEdge, Cores: 2}}
	b := &taskengine.Candidate{NodeState: taskengine.NodeState{ID: "b", Online: true, HasFacts: true, Tier: protocol.TierEdge, Cores: 2}}
	s := sleepTask("t", 1, 0, 0)
	r := &taskengine.Request{Task: "t", Spec: &s, Work: 1, Submitted: g.now}
	if c := g.p.Place(r, []*taskengine.Candidate{a, b}); c != a {
		t.Errorf("placed on %v, want a", c)
	}
	if c := g.p.Place(r, []*taskengine.Candidate{b}); c != b {
		t.Errorf("placed on %v, want b (a is gone)", c)
	}
}

func TestLabelsDeclareTheNode(t *testing.T) {
	g := newRig(t)
	lbl := func(kv ...string) func(*taskengine.NodeState) {
		return func(n *taskengine.NodeState) {
			n.Labels = map[string]string{}
			for k := 0; k < len(kv); k += 2 {
				n.Labels[kv[k]] = kv[k+1]
			}
		}
	}
	g.node("pi", protocol.TierEdge, 4, lbl(LabelSlots, "2", LabelSpeed, "0.4", LabelRTT, "5", LabelBandwidth, "30"))
	g.node("bad", protocol.TierEdge, 1<<30, lbl(LabelSlots, "2.5", LabelSpeed, "NaN", LabelRTT, "-1", LabelBandwidth, "0"))
	g.node("far", protocol.TierCloud, 8, lbl(LabelRTT, "250"))
	pi, bad, far := g.p.fleet.Node(g.index("pi")), g.p.fleet.Node(g.index("bad")), g.p.fleet.Node(g.index("far"))
	if pi.Cores != 2 || pi.Speed != 0.4 || pi.RTT != 0.005 || pi.Bandwidth != 30e6/8 {
		t.Errorf("pi declared %+v", *pi)
	}
	if bad.Cores != maxSlots || bad.Speed != 1 || bad.RTT != DefaultLANRTT.Seconds() || bad.Bandwidth != DefaultLANMbps*bytesPerMegabit {
		t.Errorf("bad labels declared %+v", *bad)
	}
	if far.RTT != 0.25 || far.Bandwidth != 0 {
		t.Errorf("far cloud declared %+v", *far)
	}
	// A changed label redeclares the node.
	g.node("pi", protocol.TierEdge, 4, lbl(LabelSlots, "3"))
	if got := g.p.fleet.Node(g.index("pi")).Cores; got != 3 {
		t.Errorf("pi has %d slots after its label changed, want 3", got)
	}
}

// TestBoardDeclaresTheSpeed: a node's speed comes from its results, its board and its label,
// in that order of trust. A board the table knows sets the prior whatever the label says; an
// unknown one leaves the label's (else 1); the operator's max_speed caps both.
func TestBoardDeclaresTheSpeed(t *testing.T) {
	g := newRig(t)
	with := func(model, speed string) func(*taskengine.NodeState) {
		return func(n *taskengine.NodeState) {
			n.Model = model
			if speed != "" {
				n.Labels = map[string]string{LabelSpeed: speed}
			}
		}
	}
	for _, c := range []struct {
		id, model, label string
		want             float64
	}{
		{"p5", "Raspberry Pi 5 Model B Rev 1.0", "0.3", 2},
		{"p4", "Raspberry Pi 4 Model B Rev 1.4", "", 1},
		{"p400", "Raspberry Pi 400 Rev 1.0", "", 1.2},
		{"z2", "Raspberry Pi Zero 2 W Rev 1.0", "3", 0.4},
		{"z1", "Raspberry Pi Zero W Rev 1.1", "", 0.1},
		{"p3p", "Raspberry Pi 3 Model B Plus Rev 1.3", "", 0.56},
		{"cm3p", "Raspberry Pi Compute Module 3 Plus Rev 1.0", "", 0.48},
		{"nuc", "NUC7i3BNH", "3", 3},              // not a board the table knows: the label
		{"vm", "", "", 1},                         // nothing: a reference core
		{"fake", "Raspberry Pi 9 Model Z", "", 1}, // a name like a Pi's is not a Pi
	} {
		g.node(c.id, protocol.TierEdge, 4, with(c.model, c.label))
		if got := g.p.fleet.Node(g.index(c.id)).Speed; got != c.want {
			t.Errorf("%s (%q, label %q) declared at speed %v, want %v", c.id, c.model, c.label, got, c.want)
		}
	}
	g.node("capped", protocol.TierEdge, 4, with("Raspberry Pi 5 Model B Rev 1.0", ""), func(n *taskengine.NodeState) { n.MaxSpeed = 1.5 })
	if got := g.p.fleet.Node(g.index("capped")).Speed; got != 1.5 {
		t.Errorf("a Pi 5 under max_speed 1.5 declared at %v", got)
	}
}

// TestReportedSlotsDeclareTheNode: an agent's task_slots (its facts) size
// the node, not its cores; a tether.slots label still wins.
func TestReportedSlotsDeclareTheNode(t *testing.T) {
	g := newRig(t)
	g.node("pi", protocol.TierEdge, 4, func(n *taskengine.NodeState) { n.TaskSlots = 1 })
	if got := g.p.fleet.Node(g.index("pi")).Cores; got != 1 {
		t.Errorf("pi reporting 1 slot on 4 cores declared with %d", got)
	}
	g.node("pi", protocol.TierEdge, 4, func(n *taskengine.NodeState) {
		n.TaskSlots = 1
		n.Labels = map[string]string{LabelSlots: "3"}
	})
	if got := g.p.fleet.Node(g.index("pi")).Cores; got != 3 {
		t.Errorf("pi with a tether.slots label of 3 declared with %d", got)
	}
}

func TestClassesAreBounded(t *testing.T) {
	g := newRig(t)
	for k := 0; k < 100; k++ {
		if c := g.p.class(strings.Repeat("c", k+1)); c < 0 || c >= 8 {
			t.Fatalf("class %d", c)
		}
	}
	if len(g.p.classes) != 7 {
		t.Errorf("%d classes kept", len(g.p.classes))
	}
}

// TestMeasuredLinksMoveThePlacement: two edge nodes declared with the same
// configured link (the LAN, 100 Mbit/s), pi-slow's cores twice as fast, so
// a task with 40 MB of input from the site goes there. Then pi-slow's
// transfers measure 2 Mbit/s and 80 ms: its declared link follows the
// measurements (the configuration counting as one sample), and the same
// tasks go to pi-fast.
func TestMeasuredLinksMoveThePlacement(t *testing.T) {
	tb := links.NewTable()
	g := newRig(t, func(o *Options) { o.Links = tb })
	speed := func(n *taskengine.NodeState) { n.Labels = map[string]string{LabelSpeed: "2"} }
	g.node("pi-fast", protocol.TierEdge, 8)
	g.node("pi-slow", protocol.TierEdge, 8, speed)
	chosen := map[string]int{}
	for i := range 4 {
		chosen[g.place(sleepTask(fmt.Sprintf("before-%d", i), 10, 40<<20, 0))]++
	}
	if chosen["pi-slow"] != 4 {
		t.Fatalf("with no measurement: %v, want all on pi-slow (faster cores, the same link)", chosen)
	}
	for range 7 {
		if _, _, err := tb.ObserveTransfer("pi-slow", 1<<20, 4194304*time.Microsecond, 0); err != nil { // 2 Mbit/s
			t.Fatal(err)
		}
		tb.ObserveRTT("pi-slow", 80*time.Millisecond, 0)
		tb.ObserveTransfer("pi-fast", 1<<20, 83886*time.Microsecond, 0) // 100 Mbit/s
	}
	g.node("pi-slow", protocol.TierEdge, 8, speed) // its next report redeclares it
	g.node("pi-fast", protocol.TierEdge, 8)
	slow := g.p.fleet.Node(g.index("pi-slow"))
	if want := (100e6/8 + 7*2e6/8) / 8; math.Abs(slow.Bandwidth-want) > want*1e-3 {
		t.Errorf("pi-slow's bandwidth %.0f B/s, want %.0f (the prior and 7 samples of 2 Mbit/s)", slow.Bandwidth, want)
	}
	if want := (0.002 + 7*0.080) / 8; math.Abs(slow.RTT-want) > 1e-9 {
		t.Errorf("pi-slow's round trip %.4f s, want %.4f", slow.RTT, want)
	}
	clear(chosen)
	for i := range 4 {
		chosen[g.place(sleepTask(fmt.Sprintf("after-%d", i), 10, 40<<20, 0))]++
	}
	if chosen["pi-fast"] != 4 {
		t.Errorf("after measuring pi-slow's link at 2 Mbit/s, 40 MB tasks went %v, want all on pi-fast", chosen)
	}
}

// TestMeasuredUpLinkMovesInputsNotResults: the same two nodes; pi-slow's
// transfers from it measure 100 Mbit/s, those to it (inputs it fetched
// from the scheduler) 2 Mbit/s. Its bandwidth to the site follows the
// first, its bandwidth from the site the second, each blended with the
// configured 100 Mbit/s: a task with 40 MB of input from the site now
// goes to pi-fast, one with a 40 MB result still to pi-slow.
func TestMeasuredUpLinkMovesInputsNotResults(t *testing.T) {
	tb := links.NewTable()
	g := newRig(t, func(o *Options) { o.Links = tb })
	speed := func(n *taskengine.NodeState) { n.Labels = map[string]string{LabelSpeed: "2"} }
	g.node("pi-fast", protocol.TierEdge, 8)
	g.node("pi-slow", protocol.TierEdge, 8, speed)
	input := func(id string) string { return g.place(sleepTask(id, 10, 40<<20, 0)) }
	result := func(id string) string {
		s := sleepTask(id, 10, 0, 0)
		s.OutputBytes = 40 << 20
		return g.place(s)
	}
	if a, b := input("in-before"), result("out-before"); a != "pi-slow" || b != "pi-slow" {
		t.Fatalf("with no measurement: input to %s, result from %s; want both on pi-slow (faster cores, the same link)", a, b)
	}
	for range 7 {
		if _, _, err := tb.ObserveUpTransfer("pi-slow", 1<<20, 4194304*time.Microsecond, 0); err != nil { // 2 Mbit/s
			t.Fatal(err)
		}
		tb.ObserveTransfer("pi-slow", 1<<20, 83886*time.Microsecond, 0) // 100 Mbit/s
	}
	g.node("pi-slow", protocol.TierEdge, 8, speed) // its next report redeclares it
	slow := g.p.fleet.Node(g.index("pi-slow"))
	if want := (100e6/8 + 7*2e6/8) / 8; math.Abs(slow.BandwidthIn-want) > want*1e-3 {
		t.Errorf("pi-slow's bandwidth from the site %.0f B/s, want %.0f (the prior and 7 samples of 2 Mbit/s)", slow.BandwidthIn, want)
	}
	if want := 100e6 / 8; math.Abs(slow.Bandwidth-want) > want*1e-3 {
		t.Errorf("pi-slow's bandwidth to the site %.0f B/s, want %.0f", slow.Bandwidth, want)
	}
	if got := input("in-after"); got != "pi-fast" {
		t.Errorf("after measuring pi-slow's link from the site at 2 Mbit/s, a 40 MB input went to %s, want pi-fast", got)
	}
	if got := result("out-after"); got != "pi-slow" {
		t.Errorf("a 40 MB result went to %s, want pi-slow: its link to the site is as fast as configured", got)
	}
}

// TestInputsHeldOnANodeDrawTheTask: a task's 40 MB input is a blob held on
// pi-cam (from: node/pi-cam), whose cores are slower than pi-a's. With the
// blob's bytes counted where they are, the task runs on pi-cam (nothing
// moves) rather than on pi-a (40 MB through the site first); a
// scheduler-held input of the same size goes to the faster pi-a, since it
// moves either way.
func TestInputsHeldOnANodeDrawTheTask(t *testing.T) {
	g := newRig(t)
	g.node("pi-a", protocol.TierEdge, 4)
	g.node("pi-cam", protocol.TierEdge, 4, func(n *taskengine.NodeState) { n.Labels = map[string]string{LabelSpeed: "0.8"} })
	frame := blob.ID{Size: 40 << 20}
	frame.Sum[0] = 1
	spec := func(id, from string) task.Spec {
		s := sleepTask(id, 10, 0, 0)
		s.Inputs = map[string]task.Input{"frame": {Blob: frame, From: from}}
		return s
	}
	if got := g.place(spec("held-on-cam", "node/pi-cam")); got != "pi-cam" {
		t.Errorf("a task whose input is on pi-cam went to %s", got)
	}
	if got := g.place(spec("held-at-site", "")); got != "pi-a" {
		t.Errorf("a task whose input is at the scheduler went to %s, want the faster pi-a", got)
	}
}

// TestPlacementEstimatesTheEnd: the Placer reports when the task it placed
// is expected done, for Tether and for a baseline alike: 100 s of work on a
// one-slot reference node ends about 100 s on; with a deadline the estimate
// is on about the 90th percentile of the run time — before any run on the
// node, a quarter's spread: 100 ÷ (1 − 1.6 × 0.25) ≈ 167 s.
func TestPlacementEstimatesTheEnd(t *testing.T) {
	for _, policy := range []string{"tether", "least-work", "round-robin"} {
		for _, c := range []struct {
			deadline time.Duration
			want     time.Duration
		}{{0, 100 * time.Second}, {10 * time.Second, 166667 * time.Millisecond}} {
			g := newRig(t, func(o *Options) { o.Policy = policy })
			g.node("pi", protocol.TierEdge, 1)
			if got := g.place(sleepTask("long", 100, 0, c.deadline)); got != "pi" {
				t.Fatalf("%s: placed on %q", policy, got)
			}
			done, ok := g.p.Estimate()
			if !ok {
				t.Fatalf("%s: no estimate", policy)
			}
			if left := done.Sub(g.now); left < c.want-time.Second || left > c.want+time.Second {
				t.Errorf("%s, deadline %v: expected done %v from now, want about %v", policy, c.deadline, left, c.want)
			}
		}
	}
}
