package live

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/task"
)

var t0 = time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)

// rig is a Placer on an injected clock, told what the engine would tell it: nodes, and
// each attempt it places charged to its node as the engine charges it.
type rig struct {
	t     testing.TB
	now   time.Time
	p     *Placer
	nodes map[string]*taskengine.Candidate
	on    map[string]*taskengine.Candidate // task → node it was placed on
	reqs  map[string]*taskengine.Request
}

func newRig(t testing.TB, mods ...func(*Options)) *rig {
	t.Helper()
	g := &rig{t: t, now: t0, nodes: map[string]*taskengine.Candidate{}, on: map[string]*taskengine.Candidate{},
		reqs: map[string]*taskengine.Request{}}
	o := Options{
		Now:  func() time.Time { return g.now },
		Rand: rand.New(rand.NewPCG(1, 2)),
		WAN:  WAN{RTT: 160 * time.Millisecond, UpMbps: 20, DownMbps: 20},
	}
	for _, m := range mods {
		m(&o)
	}
	p, err := newPlacer(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	g.p = p
	return g
}

func (g *rig) advance(d time.Duration) { g.now = g.now.Add(d) }

// node brings a node online with facts: tier, and slots as its cores.
func (g *rig) node(id, tier string, slots int, mods ...func(*taskengine.NodeState)) {
	n := taskengine.NodeState{ID: id, Online: true, Instance: "i-" + id, HasFacts: true, Tier: tier, Cores: slots, MemTotal: 4 << 30}
	for _, m := range mods {
		m(&n)
	}
	c := g.nodes[id]
	if c == nil {
		c = &taskengine.Candidate{}
		g.nodes[id] = c
	}
	c.NodeState = n
	g.p.NodeUpdated(n)
}

// cands returns the online nodes, sorted by id, as the engine hands them over.
func (g *rig) cands() []*taskengine.Candidate {
	var out []*taskengine.Candidate
	for _, c := range g.nodes {
		if c.Online && c.HasFacts {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *taskengine.Candidate) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// sleepTask is a builtin sleep task of work seconds, with input bytes and a deadline.
func sleepTask(id string, work float64, input int64, deadline time.Duration) task.Spec {
	s := task.Spec{ID: id, Kind: task.KindBuiltin, Work: work, InputBytes: input, Deadline: task.Duration(deadline),
		Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: int64(work * 10), UnitMS: 100}}
	s.Defaults()
	return s
}

// place asks for a node for spec, submitted now, and on success charges it there as the
// engine does; it returns the node's id, or "" when none.
func (g *rig) place(spec task.Spec) string {
	g.t.Helper()
	return g.placeRequest(&taskengine.Request{Task: spec.ID, Spec: &spec, Work: spec.Work, Submitted: g.now})
}

// placeRequest is place for a request made by the caller.
func (g *rig) placeRequest(r *taskengine.Request) string {
	g.t.Helper()
	spec := r.Spec
	if r.Work == 0 {
		r.Work = 1
	}
	c := g.p.Place(r, g.cands())
	if c == nil {
		return ""
	}
	c.Outstanding += r.Work
	c.CPUMillis += spec.Resources.CPUMillis
	c.MemBytes += spec.Resources.MemMB << 20
	c.Tasks++
	g.on[spec.ID], g.reqs[spec.ID] = c, r
	g.p.AttemptAssigned(taskengine.Attempt{Task: spec.ID, Attempt: 1, Node: c.ID, Request: r})
	return c.ID
}

// placeAll places specs and returns how many went to each node.
func (g *rig) placeAll(specs ...task.Spec) map[string]int {
	g.t.Helper()
	got := map[string]int{}
	for _, s := range specs {
		got[g.place(s)]++
	}
	return got
}

func (g *rig) running(id string) { g.p.AttemptRunning(id, 1) }

// end ends a task's attempt, with the node's result when it succeeded after ran.
func (g *rig) end(id string, res *task.Result) {
	c := g.on[id]
	r := g.reqs[id]
	c.Outstanding -= r.Work
	c.CPUMillis -= r.Spec.Resources.CPUMillis
	c.MemBytes -= r.Spec.Resources.MemMB << 20
	c.Tasks--
	delete(g.on, id)
	g.p.AttemptEnded(id, 1, res)
}

// succeed ends a task that ran for ran, all its units done.
func (g *rig) succeed(id string, ran time.Duration) {
	units := g.reqs[id].Spec.Builtin.Units
	g.end(id, &task.Result{DurationMS: ran.Milliseconds(), WorkDone: units})
}

// index returns the fleet index of node id.
func (g *rig) index(id string) int {
	g.t.Helper()
	i, ok := g.p.nodes[id]
	if !ok {
		g.t.Fatalf("node %s not in the fleet", id)
	}
	return i
}

func specs(prefix string, n int, mk func(id string) task.Spec) []task.Spec {
	out := make([]task.Spec, n)
	for k := range out {
		out[k] = mk(fmt.Sprintf("%s-%02d", prefix, k))
	}
	return out
}
