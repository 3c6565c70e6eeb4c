package live

import (
	"crypto/ed25519"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// engineRig is the task engine (no store: what it takes is dropped) placing with a Placer,
// both on one injected clock.
type engineRig struct {
	t      testing.TB
	now    time.Time
	topics protocol.Topics
	e      *taskengine.Engine
	pl     taskengine.Placer // what the engine was given
	p      *Placer
	seq    uint64
	status map[string]task.Status // the last status of each task taken
}

func newEngineRig(t testing.TB, mods ...func(*Options)) *engineRig {
	return newQueueingRig(t, 0, mods...)
}

// newQueueingRig is newEngineRig with the engine's NodeQueue set to queue.
func newQueueingRig(t testing.TB, queue int, mods ...func(*Options)) *engineRig {
	g := &engineRig{t: t, now: t0, status: map[string]task.Status{}}
	g.topics, _ = protocol.NewTopics("default")
	clock := func() time.Time { return g.now }
	o := Options{Now: clock, Rand: rand.New(rand.NewPCG(3, 4)), WAN: WAN{RTT: 160 * time.Millisecond, UpMbps: 20, DownMbps: 20}}
	for _, m := range mods {
		m(&o)
	}
	pl, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	g.pl = pl
	switch p := pl.(type) {
	case *Placer:
		g.p = p
	case *Queued:
		g.p = p.Placer
	}
	key := ed25519.NewKeyFromSeed([]byte("tether live placer test key seed"))
	if g.e, err = taskengine.New(taskengine.Options{Topics: g.topics, Key: key, Placer: pl, Now: clock, NodeQueue: queue}, taskengine.Loaded{}); err != nil {
		t.Fatalf("taskengine.New: %v", err)
	}
	return g
}

func (g *engineRig) node(id, tier string, slots int) {
	g.e.UpdateNode(taskengine.NodeState{ID: id, Online: true, Instance: "i-" + id, HasFacts: true, Tier: tier, Cores: 4,
		MemTotal: 4 << 30, Labels: map[string]string{LabelSlots: string(rune('0' + slots))}})
	g.take()
}

// take returns the replies and the node of each task status in what the engine took. A
// yield the engine asks of a node is answered at once, as an agent does: the attempt
// yielded (its checkpoint, if any, is the one the engine has).
func (g *engineRig) take() (replies []task.Reply, on map[string]string) {
	g.t.Helper()
	on = map[string]string{}
	for {
		g.e.Settle()
		b, err := g.e.Take()
		if err != nil {
			g.t.Fatal(err)
		}
		var yields []task.Assignment
		for _, m := range b.Msgs {
			switch {
			case strings.Contains(m.Topic, "/replies/"):
				r, err := task.DecodeReply(m.Payload)
				if err != nil {
					g.t.Fatal(err)
				}
				replies = append(replies, r)
			case strings.Contains(m.Topic, "/tasks/"):
				st, err := task.DecodeStatus(m.Payload)
				if err != nil {
					continue
				}
				g.status[st.Task] = st
				if st.Node != "" {
					on[st.Task] = st.Node
				}
			case strings.HasSuffix(m.Topic, "/cmd/task"):
				env, err := task.DecodeEnvelope(m.Payload)
				if err != nil {
					g.t.Fatal(err)
				}
				a, err := task.DecodeAssignment(env.Body)
				if err != nil {
					g.t.Fatal(err)
				}
				if a.Op == task.AssignYield {
					yields = append(yields, a)
				}
			}
		}
		if len(yields) == 0 {
			return replies, on
		}
		for _, a := range yields {
			g.seq++
			g.e.Event(task.Event{Header: protocol.Header{V: protocol.Version, Node: a.Node, Instance: "i-" + a.Node, Seq: g.seq,
				TS: g.now}, Task: a.Task, Attempt: a.Attempt, State: task.EventYielded})
		}
	}
}

// submit submits spec and returns the node it was assigned to ("" if none) and the reply.
func (g *engineRig) submit(spec task.Spec) (string, task.Reply) {
	g.t.Helper()
	g.e.Submit(task.SubmitRequest{V: task.Version, RequestID: "r-" + spec.ID, ReplyTo: g.topics.Reply("cli", "r-"+spec.ID), Spec: spec})
	rs, on := g.take()
	if len(rs) != 1 {
		g.t.Fatalf("%d replies", len(rs))
	}
	return on[spec.ID], rs[0]
}

// event applies an agent's event and returns the tasks then placed, by node.
func (g *engineRig) event(node, id, state string, res *task.Result) ([]task.Reply, map[string]string) {
	g.seq++
	g.e.Event(task.Event{Header: protocol.Header{V: protocol.Version, Node: node, Instance: "i-" + node, Seq: g.seq, TS: g.now},
		Task: id, Attempt: 1, State: state, Result: res})
	rs, on := g.take()
	delete(on, id)
	return rs, on
}

// TestWithTheEngine runs the end-to-end test's scenario through the real task engine: an
// idle edge keeps its tasks; a saturated edge has deadline tasks offloaded; a spec naming an
// unknown policy is refused.
func TestWithTheEngine(t *testing.T) {
	g := newEngineRig(t)
	g.node("edge-a", protocol.TierEdge, 2)
	g.node("edge-b", protocol.TierEdge, 2)
	g.node("cloud-1", protocol.TierCloud, 8)

	idle, idleOn := map[string]int{}, map[string]string{}
	for _, s := range specs("idle", 4, func(id string) task.Spec { return sleepTask(id, 2, 2e6, 20*time.Second) }) {
		n, r := g.submit(s)
		if !r.OK {
			t.Fatalf("submit: %+v", r)
		}
		idle[n]++
		idleOn[s.ID] = n
		g.event(n, s.ID, task.EventRunning, nil)
	}
	if diff := cmp.Diff(map[string]int{"edge-a": 2, "edge-b": 2}, idle); diff != "" {
		t.Errorf("idle edge (-want +got):\n%s", diff)
	}
	g.now = g.now.Add(2 * time.Second)
	for id, n := range idleOn {
		g.event(n, id, task.EventSucceeded, &task.Result{DurationMS: 2000, WorkDone: 20})
	}
	for _, n := range []string{"edge-a", "edge-b"} {
		i := g.p.nodes[n]
		if r := g.p.fleet.Rate(i, g.p.classes["sleep"]); g.p.fleet.Assigned(i) != 0 || r < 0.999 || r > 1.001 {
			t.Errorf("%s after the idle tasks: %d tasks recorded, learned rate %v (want 0 and 1)", n, g.p.fleet.Assigned(i), r)
		}
	}

	var long []string
	for _, s := range specs("long", 4, func(id string) task.Spec {
		s := sleepTask(id, 15, 0, 0)
		s.Constraints.Tier = task.TierEdge
		return s
	}) {
		n, _ := g.submit(s)
		long = append(long, n)
		g.event(n, s.ID, task.EventRunning, nil)
	}
	g.now = g.now.Add(time.Second)
	busy := map[string]int{}
	for _, s := range specs("short", 6, func(id string) task.Spec { return sleepTask(id, 1, 2e5, 4*time.Second) }) {
		n, _ := g.submit(s)
		busy[n]++
	}
	if diff := cmp.Diff(map[string]int{"cloud-1": 6}, busy); diff != "" {
		t.Errorf("saturated edge, long tasks on %v (-want +got):\n%s", long, diff)
	}

	bad := sleepTask("bad", 1, 0, 0)
	bad.Policy = "fastest"
	if n, r := g.submit(bad); r.OK || n != "" || !strings.Contains(r.Error, `spec.policy "fastest"`) ||
		!strings.Contains(r.Error, "round-robin (rr)") {
		t.Errorf("unknown policy: placed on %q, reply %+v", n, r)
	}
}
