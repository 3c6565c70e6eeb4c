package live

import (
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// TestLearnsFromComputeTimeNotInputFetch: a success whose attempt spent most of its wall
// time getting its inputs onto the node teaches the node's speed from the rest, the compute
// time (duration_ms − fetch_ms); a result without fetch_ms, from an agent that does not
// report it, is taken whole as before. Through the real task engine: its success event is
// what the Placer learns from.
func TestLearnsFromComputeTimeNotInputFetch(t *testing.T) {
	g := newEngineRig(t)
	g.node("edge-a", protocol.TierEdge, 1)
	g.node("edge-b", protocol.TierEdge, 1)
	on := map[string]string{}
	for _, id := range []string{"fetched", "unsplit"} {
		n, r := g.submit(sleepTask(id, 2, 8e6, 0)) // 20 units, 2 s at the declared speed
		if !r.OK {
			t.Fatalf("submit %s: %+v", id, r)
		}
		on[id] = n
	}
	if on["fetched"] == on["unsplit"] {
		t.Fatalf("both tasks on %s, want one on each node", on["fetched"])
	}
	for id, n := range on {
		g.event(n, id, task.EventRunning, nil)
	}
	g.now = g.now.Add(10 * time.Second)
	// Both took 10 s on their node; the first spent 8 of them fetching its input.
	g.event(on["fetched"], "fetched", task.EventSucceeded, &task.Result{DurationMS: 10000, FetchMS: 8000, WorkDone: 20})
	g.event(on["unsplit"], "unsplit", task.EventSucceeded, &task.Result{DurationMS: 10000, WorkDone: 20})
	for id, want := range map[string]float64{"fetched": 1, "unsplit": 0.2} {
		if r := g.p.fleet.Rate(g.p.nodes[on[id]], g.p.classes["sleep"]); r < want*0.999 || r > want*1.001 {
			t.Errorf("%s's node learned rate %v, want %v", id, r, want)
		}
	}
}

// TestComputeSeconds: a result's compute time is its wall time less its fetch, in seconds.
func TestComputeSeconds(t *testing.T) {
	for _, c := range []struct {
		res  task.Result
		want float64
	}{
		{task.Result{DurationMS: 10000, FetchMS: 8000}, 2},
		{task.Result{DurationMS: 10000}, 10},            // an agent that does not report fetch_ms
		{task.Result{DurationMS: 800, FetchMS: 800}, 0}, // under a millisecond: the scheduler's times
		{task.Result{}, 0},
	} {
		if got := computeSeconds(&c.res); got != c.want {
			t.Errorf("computeSeconds(%+v) = %v, want %v", c.res, got, c.want)
		}
	}
}
