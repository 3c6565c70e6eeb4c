package live

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// BenchmarkLiveDecision measures one live placement decision as the task engine makes it:
// Place over the engine's sorted candidates (its own constraints checked per candidate),
// then the AttemptAssigned that records it, at steady state — every op also reports a
// running attempt and ends the one placed 4096 decisions earlier with its node's result, as
// the engine would, with min(4096, 2n) attempts in flight. The fleet: n edge nodes of 4 slots (30 % declared at 0.4, 50 % at 1, 20 %
// at 2 reference cores, some reporting background load or throttling) and one cloud node of
// 64 slots. p99-ns is the 99th percentile of Place +
// AttemptAssigned alone, timed one by one.
func BenchmarkLiveDecision(b *testing.B) {
	for _, pol := range []string{"tether", "p2c"} {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/nodes=%d", pol, n), func(b *testing.B) { benchDecision(b, pol, n) })
		}
	}
}

func benchDecision(b *testing.B, pol string, n int) {
	now := t0
	rng := rand.New(rand.NewPCG(1, 2))
	p, err := newPlacer(Options{Policy: pol, Now: func() time.Time { return now }, Rand: rand.New(rand.NewPCG(3, 4))})
	if err != nil {
		b.Fatal(err)
	}
	cands := make([]*taskengine.Candidate, 0, n+1)
	for k := 0; k < n; k++ {
		speed := "1"
		switch r := rng.Float64(); {
		case r < 0.3:
			speed = "0.4"
		case r > 0.8:
			speed = "2"
		}
		nd := taskengine.NodeState{ID: fmt.Sprintf("pi-%05d", k), Online: true, HasFacts: true, Tier: protocol.TierEdge, Cores: 4,
			MemTotal: 4 << 30, Labels: map[string]string{LabelSpeed: speed, "zone": strconv.Itoa(k % 4)},
			CPU: 0.1 * float64(k%5), Throttled: k%50 == 0}
		cands = append(cands, &taskengine.Candidate{NodeState: nd})
	}
	cands = append(cands, &taskengine.Candidate{NodeState: taskengine.NodeState{ID: "vm-cloud", Online: true, HasFacts: true,
		Tier: protocol.TierCloud, Cores: 64, MemTotal: 256 << 30}})
	slices.SortFunc(cands, func(a, b *taskengine.Candidate) int { return cmpID(a.ID, b.ID) })
	for _, c := range cands {
		p.NodeUpdated(c.NodeState)
	}
	window := min(4096, 2*n) // attempts in flight, ended in FIFO order
	type flight struct {
		id   string
		c    *taskengine.Candidate
		work float64
	}
	ring := make([]flight, 0, window)
	spec := make([]task.Spec, 4)
	for k := range spec {
		spec[k] = task.Spec{Kind: task.KindBuiltin, Class: []string{"cpu", "sleep", "resize", "detect"}[k],
			Builtin: &task.Builtin{Name: task.BuiltinCPU, Units: 100}, InputBytes: 100_000, OutputBytes: 10_000,
			Deadline: task.Duration(5 * time.Second), Resources: task.Resources{CPUMillis: 500}}
		if k == 3 {
			spec[k].Constraints.Labels = map[string]string{"zone": "2"}
		}
	}
	ids := make([]string, window)
	for k := range ids {
		ids[k] = "t" + strconv.Itoa(k)
	}
	var req taskengine.Request
	place := func(k int) (flight, time.Duration) {
		s := &spec[k%len(spec)]
		s.Work = 0.5 + rng.Float64()
		req = taskengine.Request{Task: ids[k%window], Spec: s, Work: s.Work, Submitted: now}
		start := time.Now()
		c := p.Place(&req, cands)
		if c == nil {
			b.Fatalf("decision %d: no node", k)
		}
		p.AttemptAssigned(taskengine.Attempt{Task: req.Task, Attempt: 1, Node: c.ID, Request: &req})
		took := time.Since(start)
		c.Outstanding += req.Work
		c.CPUMillis += s.Resources.CPUMillis
		c.Tasks++
		p.AttemptRunning(req.Task, 1)
		return flight{req.Task, c, req.Work}, took
	}
	end := func(f flight) {
		f.c.Outstanding -= f.work
		f.c.CPUMillis -= 500
		f.c.Tasks--
		p.AttemptEnded(f.id, 1, &task.Result{DurationMS: 1200, WorkDone: 100})
	}
	// Fill the window, then run as long again untimed: the rates learned, the WAN booked.
	for k := 0; k < window; k++ {
		now = now.Add(time.Millisecond)
		f, _ := place(k)
		ring = append(ring, f)
	}
	step := func(k int) time.Duration {
		now = now.Add(time.Millisecond)
		end(ring[k%window])
		f, took := place(k)
		ring[k%window] = f
		return took
	}
	for k := window; k < 2*window; k++ {
		step(k)
	}
	lat := make([]time.Duration, 0, min(b.N, 1<<20))
	b.ReportAllocs()
	b.ResetTimer()
	for k := 2 * window; k < 2*window+b.N; k++ {
		took := step(k)
		if len(lat) < cap(lat) {
			lat = append(lat, took)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	}
}

func cmpID(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
