package place

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestCompletionHandChecked(t *testing.T) {
	f := fleetOf(edgeNode("pi", 1), cloudPool())
	tk := &Task{ID: 1, Work: 2, InBytes: 1e6, OutBytes: 1e5, Source: -1}
	// Edge: in = 0.001 + 1e6/1e8 = 0.011; compute 2/1; out = 0.001 + 1e5/1e8 = 0.002.
	if got := Completion(f, f, 0, tk, 0); !near(got, 2.013) {
		t.Errorf("edge completion = %v, want 2.013", got)
	}
	// Cloud: in = 0.06 + 1e6/2.5e6 = 0.46; compute 2/2.4; out = 0.06 + 1e5/2.5e6 = 0.1.
	if got, want := Completion(f, f, 1, tk, 0), 0.46+2/2.4+0.1; !near(got, want) {
		t.Errorf("cloud completion = %v, want %v", got, want)
	}
	// A booked upload delays the next one by its transfer time: 1e6/2.5e6 = 0.4 s.
	f.Assign(1, &Task{ID: 2, Work: 1, InBytes: 1e6, Source: -1}, 0)
	if got, want := Completion(f, f, 1, tk, 0), 0.4+0.46+2/2.4+0.1; !near(got, want) {
		t.Errorf("cloud completion behind a booked upload = %v, want %v", got, want)
	}
}

// TestCompletionWithTheInputFetched: input already fetched to a node (Task.Fetched) costs only
// the node's RTT there; the result still goes back to the source, and elsewhere nothing
// changes.
func TestCompletionWithTheInputFetched(t *testing.T) {
	f := fleetOf(edgeNode("pi", 1), edgeNode("pi2", 1))
	tk := &Task{ID: 1, Work: 2, InBytes: 1e6, OutBytes: 1e5, Source: -1, Fetched: 1}
	if got := Completion(f, f, 0, tk, 0); !near(got, 0.001+2+0.002) {
		t.Errorf("completion where the input was fetched = %v, want 2.003", got)
	}
	if got := Completion(f, f, 1, tk, 0); !near(got, 2.013) {
		t.Errorf("completion on another node = %v, want 2.013", got)
	}
}

func TestRateLearnsFromCompletionsAndBackgroundLoad(t *testing.T) {
	f := fleetOf(edgeNode("pi", 1))
	f.Deliver(0, Report{At: 0, BgLoad: 0.5}, 0)
	f.Assign(0, &Task{ID: 1, Class: 0, Work: 2, Source: -1}, 0)
	f.Started(0, 1, 0)
	f.Finished(0, 1, 4) // 2 units in 4 s with half the CPU: 1 unit/s normalised
	if got := f.Rate(0, 0); !near(got, 0.5) {
		t.Errorf("class 0 rate under 50 %% background = %v, want 0.5", got)
	}
	f.Deliver(0, Report{At: 5, BgLoad: 0}, 5)
	if got := f.Rate(0, 0); !near(got, 1) {
		t.Errorf("class 0 rate with no background = %v, want 1", got)
	}
	// Class 1 was never seen: declared speed × learned factor (1 + 0.3 × (1 − 1)) = 1.
	if got := f.Rate(0, 1); !near(got, 1) {
		t.Errorf("class 1 rate = %v, want 1", got)
	}
}

// busyEdge returns a fleet whose only edge node has all four cores running 10-unit tasks.
func busyEdge() *View {
	f := fleetOf(edgeNode("pi", 1), cloudPool())
	for k := uint64(1); k <= 4; k++ {
		f.Assign(0, task(100+k, 10), 0)
		f.Started(0, 100+k, 0)
	}
	return f
}

func TestTetherOffloadsWhenTheEdgeCannotMeetTheDeadline(t *testing.T) {
	p := NewTether(seeded(t, 1), TetherOptions{})
	tk := &Task{ID: 1, Work: 2, InBytes: 1e5, Source: -1, Deadline: 3}
	if got := p.Pick(busyEdge(), tk, 0).Node; got != 1 {
		t.Errorf("picked %d, want the cloud (1): the edge is busy for 10 s", got)
	}
}

func TestTetherStaysAtTheEdgeWhenTheCloudCannotBeatIt(t *testing.T) {
	p := NewTether(seeded(t, 1), TetherOptions{})
	f := fleetOf(edgeNode("pi", 1), cloudPool())
	// Cloud: 0.06 + 3e6/2.5e6 = 1.26 s up, 0.83 s compute; edge: 2.03 s in all.
	tk := &Task{ID: 1, Work: 2, InBytes: 3e6, Source: -1, Deadline: 5}
	if got := p.Pick(f, tk, 0).Node; got != 0 {
		t.Errorf("picked %d, want the idle edge node (0)", got)
	}
}

func TestTetherPrefersTheDataLocalNode(t *testing.T) {
	p := NewTether(seeded(t, 1), TetherOptions{})
	wifi := edgeNode("zero", 0.9)
	wifi.Bandwidth = 1e6
	f := fleetOf(wifi, edgeNode("pi", 1))
	tk := &Task{ID: 1, Work: 2, InBytes: 5e6, Source: 0}
	// Moving 5 MB off the Wi-Fi node costs 5 s; computing locally costs 2/0.9 = 2.2 s.
	if got := p.Pick(f, tk, 0).Node; got != 0 {
		t.Errorf("picked %d, want the data-local node 0", got)
	}
}

func TestTetherAvoidsUnhealthyNodes(t *testing.T) {
	p := NewTether(seeded(t, 1), TetherOptions{})
	f := fleetOf(edgeNode("a", 1), edgeNode("b", 1))
	f.Deliver(0, Report{At: 1, Health: Undervoltage}, 1)
	for k := 0; k < 5; k++ {
		if got := p.Pick(f, task(uint64(k+1), 1), 1).Node; got != 1 {
			t.Fatalf("picked %d, want the healthy node 1", got)
		}
	}
	// A flagged node is still used when it alone meets the deadline.
	f.Deliver(1, Report{At: 2, Health: Throttled}, 2)
	f.Deliver(0, Report{At: 2, Health: 0}, 2)
	if got := p.Pick(f, task(9, 1), 2).Node; got != 0 {
		t.Errorf("picked %d, want node 0 once it is healthy again", got)
	}
}

func TestTetherHonoursTheCloudBudget(t *testing.T) {
	// One task costs 0.01 × 2 / 2.4 ≈ 0.00833; the burst holds just one.
	p := NewTether(seeded(t, 1), TetherOptions{CloudBudget: 0.0084 / 60})
	f := busyEdge()
	first := p.Pick(f, &Task{ID: 1, Work: 2, Source: -1, Deadline: 3}, 0)
	second := p.Pick(f, &Task{ID: 2, Work: 2, Source: -1, Deadline: 3}, 0)
	if first.Node != 1 || second.Node != 0 {
		t.Errorf("picked %d then %d, want the cloud (1) then, out of budget, the edge (0)", first.Node, second.Node)
	}
}

// With at most seven edge nodes (fewer than Best) every node is a candidate, so Tether must make exactly the
// decision of an exhaustive search with the same estimates.
func TestTetherEqualsExhaustiveSearchOnSmallFleets(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		rng := seeded(t, seed)
		f := NewView(wan, ViewOptions{})
		for k := 0; k < 1+rng.IntN(7); k++ {
			n := edgeNode("n", []float64{0.4, 1, 2}[rng.IntN(3)])
			n.Bandwidth = []float64{3e6, 100e6}[rng.IntN(2)]
			f.AddNode(n)
		}
		f.AddNode(cloudPool())
		p := NewTether(rng, TetherOptions{})
		exhaustive := NewOracle(f)
		now := 0.0
		for id := uint64(1); id <= 200; id++ {
			now += rng.ExpFloat64() * 0.2
			tk := &Task{ID: id, Work: rng.ExpFloat64() * 2, InBytes: rng.ExpFloat64() * 1e6,
				OutBytes: rng.ExpFloat64() * 1e5, Source: rng.IntN(f.Len() - 1), Deadline: now + 5}
			want := exhaustive.Pick(f, tk, now)
			got := p.Pick(f, tk, now)
			if got != want {
				t.Fatalf("seed %d task %d: tether %+v, exhaustive %+v", seed, id, got, want)
			}
			f.Assign(got.Node, tk, now)
			f.Started(got.Node, id, now)
			if id > 20 && rng.IntN(2) == 0 { // finish an older task somewhere
				for i := 0; i < f.Len(); i++ {
					if len(f.nodes[i].tasks) > 0 {
						f.Finished(i, f.nodes[i].tasks[0].id, now)
						break
					}
				}
			}
		}
	}
}

func TestTetherIsDeterministicForASeed(t *testing.T) {
	run := func() []int {
		rng := seeded(t, 42)
		f := NewView(wan, ViewOptions{})
		for k := 0; k < 500; k++ {
			f.AddNode(edgeNode("n", []float64{0.4, 1, 2}[k%3]))
		}
		p := NewTether(rng, TetherOptions{})
		var got []int
		for id := uint64(1); id <= 300; id++ {
			tk := &Task{ID: id, Work: 1 + float64(id%5), Source: int(id*7) % 500}
			d := p.Pick(f, tk, float64(id)/10)
			f.Assign(d.Node, tk, float64(id)/10)
			got = append(got, d.Node)
		}
		return got
	}
	a, b := run(), run()
	for k := range a {
		if a[k] != b[k] {
			t.Fatalf("decision %d differs: %d vs %d", k, a[k], b[k])
		}
	}
}
