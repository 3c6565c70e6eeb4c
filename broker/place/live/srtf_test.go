package live

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// TestSRTFVictim: under srtf a task that finds no free slot takes the slot of the running
// checkpointable attempt with the most work left, if that is more than its own (the
// simulator's SRTF, place.SRTFVictim): after the victim's attempt ends, Place gives the task
// its slot. Not a victim: a task that cannot be checkpointed, one with less work left than
// the newcomer, one not yet reported running, one on a node the task may not run on.
func TestSRTFVictim(t *testing.T) {
	type running struct {
		id, node       string
		work           float64
		checkpointable bool
		started        bool
		deadline       time.Duration
	}
	long := func(id, node string, work float64) running { return running{id, node, work, true, true, 0} }
	for _, c := range []struct {
		name   string
		run    []running
		tier   string // the newcomer's tier constraint
		victim string
	}{
		{"long checkpointable", []running{long("long", "a", 1000)}, "", "long"},
		{"its own deadline does not shield it", []running{{"long", "a", 1000, true, true, time.Hour}}, "", "long"},
		{"not checkpointable", []running{{"long", "a", 1000, false, true, 0}}, "", ""},
		{"less work left than the newcomer", []running{long("short", "a", 12)}, "", ""},
		{"not running yet", []running{{"long", "a", 1000, true, false, 0}}, "", ""},
		{"the most work left yields", []running{long("l500", "a", 500), long("l900", "b", 900), long("l700", "c", 700)}, "", "l900"},
		{"on a cloud node too", []running{long("l500", "a", 500), long("l900", "cloud", 900)}, "", "l900"},
		{"only on a node the task may use", []running{long("l500", "a", 500), long("l900", "cloud", 900)}, task.TierEdge, "l500"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newRig(t, func(o *Options) { o.Policy = "srtf" })
			for _, r := range c.run {
				tier := protocol.TierEdge
				if r.node == "cloud" {
					tier = protocol.TierCloud
				}
				g.node(r.node, tier, 1)
				s := sleepTask(r.id, r.work, 0, r.deadline)
				s.Checkpointable = r.checkpointable
				g.assignTo(s, r.node)
				if r.started {
					g.running(r.id)
				}
			}
			g.advance(5 * time.Second)
			s := sleepTask("new", 10, 0, 0)
			s.Constraints.Tier = c.tier
			r := &taskengine.Request{Task: s.ID, Spec: &s, Work: s.Work, Submitted: g.now}
			if n := g.placeRequest(r); n != "" {
				t.Fatalf("placed on %s with every slot taken", n)
			}
			id, n, ok := g.p.Victim(r, g.cands())
			if got := map[bool]string{true: id, false: ""}[ok]; got != c.victim {
				t.Fatalf("victim %q (attempt %d), want %q", got, n, c.victim)
			}
			if !ok {
				return
			}
			node := g.on[id].ID
			g.end(id, nil) // the engine ends the victim's attempt
			if got := g.placeRequest(r); got != node {
				t.Errorf("after the preemption placed on %q, want the victim's node %s", got, node)
			}
		})
	}
}

// TestSRTFPreemptsOnlyForAWaitingTask: a task Place found a node for is no reason to preempt,
// nor is one under another queue order or a dispatch policy.
func TestSRTFPreemptsOnlyForAWaitingTask(t *testing.T) {
	for _, policy := range []string{"srtf", "sjf", "tether"} {
		g := newRig(t, func(o *Options) { o.Policy = policy })
		g.node("a", protocol.TierEdge, 1)
		g.node("b", protocol.TierEdge, 1)
		s := sleepTask("long", 1000, 0, 0)
		s.Checkpointable = true
		g.assignTo(s, "a")
		g.running("long")
		g.advance(time.Second)
		n := sleepTask("new", 10, 0, 0)
		r := &taskengine.Request{Task: n.ID, Spec: &n, Work: n.Work, Submitted: g.now}
		if got := g.p.Place(r, g.cands()); got == nil || got.ID != "b" {
			t.Fatalf("%s: placed on %v, want the free b", policy, got)
		}
		if _, _, ok := g.p.Victim(r, g.cands()); ok {
			t.Errorf("%s: a victim for a task with a free slot", policy)
		}
		if policy == "srtf" {
			continue
		}
		g.assignTo(sleepTask("other", 1000, 0, 0), "b")
		if got := g.placeRequest(r); got != "" && policy != "tether" {
			t.Fatalf("%s: placed on %s with every slot taken", policy, got)
		}
		if _, _, ok := g.p.Victim(r, g.cands()); ok {
			t.Errorf("%s: a victim for a task without a deadline", policy)
		}
	}
}

func TestEDFAndSRTFKeys(t *testing.T) {
	for _, tc := range []struct {
		policy string
		want   []string
	}{
		{"srtf", []string{"c", "a", "d", "b"}},
		// b is due 25 s after t0, a 30 s; c and d have no deadline and go last, in
		// submission order (d at 2 s, c at 10 s).
		{"edf", []string{"b", "a", "d", "c"}},
	} {
		pl, err := New(Options{Policy: tc.policy, Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		q := pl.(*Queued)
		req := func(id string, after time.Duration, work float64, due time.Duration) *taskengine.Request {
			s := sleepTask(id, work, 0, due)
			s.Priority = -int(work) // priority must not reorder srtf or edf
			return &taskengine.Request{Task: id, Spec: &s, Work: work, Submitted: t0.Add(after)}
		}
		rs := []*taskengine.Request{req("a", 0, 3, 30*time.Second), req("b", 5*time.Second, 9, 20*time.Second),
			req("c", 10*time.Second, 1, 0), req("d", 2*time.Second, 5, 0)}
		var got []string
		for len(rs) > 0 {
			k := 0
			for j := range rs {
				if q.Key(rs[j]) < q.Key(rs[k]) {
					k = j
				}
			}
			got = append(got, rs[k].Task)
			rs = append(rs[:k], rs[k+1:]...)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.policy, diff)
		}
	}
}

// TestEDFAdmission: edf admits a deadline task only if the fleet, as one pool of its declared
// capacity, finishes the work placed, the pending work due before it and its own by its
// deadline, and it makes no pending task due later miss its own (place.AdmitEDF, the
// simulator's test). One node of 2 slots at speed 1: 2 work units a second.
func TestEDFAdmission(t *testing.T) {
	type pend struct {
		id   string
		work float64
		due  time.Duration
	}
	for _, c := range []struct {
		name    string
		placed  float64 // work already on the node
		pending []pend
		work    float64
		due     time.Duration
		err     string // "": admitted
	}{
		{"idle fleet, in time", 0, nil, 10, 6 * time.Second, ""},
		{"idle fleet, too short", 0, nil, 10, 4 * time.Second, "finishes it about 5s after submission"},
		{"behind placed work", 100, nil, 10, 50 * time.Second, "finishes it about 55s after submission"},
		{"placed work leaves time", 100, nil, 10, 60 * time.Second, ""},
		{"behind pending work due earlier", 0, []pend{{"p", 20, 10 * time.Second}}, 10, 14 * time.Second, "finishes it about 15s"},
		{"pending work due later is not ahead", 0, []pend{{"p", 20, 40 * time.Second}}, 10, 6 * time.Second, ""},
		{"would make a pending task late", 0, []pend{{"p", 20, 12 * time.Second}}, 10, 6 * time.Second,
			"would make pending task p miss its own deadline"},
		{"no deadline", 1000, nil, 10, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newRig(t, func(o *Options) { o.Policy = "edf" })
			q := &Queued{g.p}
			g.node("pi", protocol.TierEdge, 2)
			if c.placed > 0 {
				g.assignTo(sleepTask("placed", c.placed, 0, 0), "pi")
			}
			var pending []*taskengine.Request
			for _, p := range c.pending {
				s := sleepTask(p.id, p.work, 0, p.due)
				pending = append(pending, &taskengine.Request{Task: s.ID, Spec: &s, Work: s.Work, Submitted: g.now})
			}
			s := sleepTask("new", c.work, 0, c.due)
			err := q.Admit(&taskengine.Request{Task: s.ID, Spec: &s, Work: s.Work, Submitted: g.now}, slices.Values(pending))
			switch {
			case c.err == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Errorf("got %v, want a refusal mentioning %q", err, c.err)
			}
		})
	}
	// No node up: nothing can meet a deadline. Another queue refuses nothing.
	g := newRig(t, func(o *Options) { o.Policy = "edf" })
	s := sleepTask("new", 1, 0, time.Hour)
	r := &taskengine.Request{Task: s.ID, Spec: &s, Work: s.Work, Submitted: g.now}
	if err := (&Queued{g.p}).Admit(r, slices.Values([]*taskengine.Request(nil))); err == nil || !strings.Contains(err.Error(), "no node is online") {
		t.Errorf("empty fleet: %v", err)
	}
	g = newRig(t, func(o *Options) { o.Policy = "sjf" })
	if err := (&Queued{g.p}).Admit(r, slices.Values([]*taskengine.Request(nil))); err != nil {
		t.Errorf("sjf: %v", err)
	}
}
