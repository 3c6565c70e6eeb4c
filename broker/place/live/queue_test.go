package live

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// TestSJFQueueThroughTheEngine: with placement.policy sjf the engine keeps tasks pending at
// the scheduler until a slot frees, and gives it to the shortest; the node is the one with a
// free slot that finishes first.
func TestSJFQueueThroughTheEngine(t *testing.T) {
	g := newEngineRig(t, func(o *Options) { o.Policy = "sjf" })
	if _, ok := g.pl.(*Queued); !ok {
		t.Fatalf("New(sjf) made a %T", g.pl)
	}
	g.node("edge-a", protocol.TierEdge, 1)
	g.node("edge-b", protocol.TierEdge, 1)
	on := map[string]string{}
	var order []string
	submit := func(id string, work float64) {
		n, r := g.submit(sleepTask(id, work, 0, 0))
		if !r.OK {
			t.Fatalf("submit %s: %+v", id, r)
		}
		if n != "" {
			on[id] = n
			order = append(order, id)
		}
	}
	for _, s := range []struct {
		id   string
		work float64
	}{{"w5", 5}, {"w6", 6}, {"w3", 3}, {"w1", 1}, {"w4", 4}} {
		submit(s.id, s.work)
	}
	if diff := cmp.Diff([]string{"w5", "w6"}, order); diff != "" {
		t.Fatalf("placed at once (-want +got):\n%s", diff)
	}
	for len(order) < 5 {
		g.now = g.now.Add(time.Second)
		done := order[len(order)-2] // the older of the two running
		if _, ok := on[done]; !ok {
			t.Fatalf("no node for %s", done)
		}
		_, placed := g.event(on[done], done, task.EventSucceeded, &task.Result{DurationMS: 1000, WorkDone: 10})
		delete(on, done)
		if len(placed) != 1 {
			t.Fatalf("after %s ended: placed %v", done, placed)
		}
		for id, n := range placed {
			on[id] = n
			order = append(order, id)
		}
	}
	if diff := cmp.Diff([]string{"w5", "w6", "w1", "w3", "w4"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if err := g.p.CheckPolicy("sjf"); err != nil {
		t.Errorf("sjf: %v", err)
	}
	if err := g.p.CheckPolicy("tether"); err == nil || !strings.Contains(err.Error(), "central sjf queue") {
		t.Errorf("a task naming tether on an sjf scheduler: %v", err)
	}
}

func TestQueueKeys(t *testing.T) {
	for _, tc := range []struct {
		policy string
		want   []string
	}{
		{"fifo", []string{"a", "b", "c"}},
		{"sjf", []string{"c", "a", "b"}},
		// b, one level above a, arrived 5 s later: within 10 s per level it goes first; c, two
		// levels below, arrived 10 s after a.
		{"priority", []string{"b", "a", "c"}},
	} {
		pl, err := New(Options{Policy: tc.policy, Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		q := pl.(*Queued)
		req := func(id string, after time.Duration, work float64, prio int) *taskengine.Request {
			s := sleepTask(id, work, 0, 0)
			s.Priority = prio
			return &taskengine.Request{Task: id, Spec: &s, Work: work, Submitted: t0.Add(after)}
		}
		rs := []*taskengine.Request{req("a", 0, 3, 1), req("b", 5*time.Second, 4, 2), req("c", 10*time.Second, 1, -1)}
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
