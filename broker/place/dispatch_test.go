package place

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func picks(d Dispatcher, f *View, t *Task, n int) []int {
	var got []int
	for k := 0; k < n; k++ {
		got = append(got, d.Pick(f, t, 0).Node)
	}
	return got
}

func TestRoundRobinSkipsDownAndUnfit(t *testing.T) {
	small := edgeNode("zero", 0.4)
	small.MemBytes = 512 << 20
	f := fleetOf(edgeNode("a", 1), small, edgeNode("c", 1), edgeNode("d", 1))
	f.Down(2, 0, nil)
	big := task(1, 1)
	big.MemBytes = 1 << 30
	got := picks(&RoundRobin{}, f, big, 4)
	if diff := cmp.Diff([]int{0, 3, 0, 3}, got); diff != "" {
		t.Errorf("round robin (-want +got):\n%s", diff)
	}
}

func TestRandomPoliciesPickOnlyUsableNodes(t *testing.T) {
	rng := seeded(t, 3)
	f := fleetOf(edgeNode("a", 1), edgeNode("b", 2), cloudPool())
	f.Down(0, 0, nil)
	edgeOnly := task(1, 1)
	edgeOnly.Tiers = MaskOf(TierEdge)
	for _, d := range []Dispatcher{NewRandom(rng), NewWeightedRandom(rng), NewP2C(rng),
		NewLeastWork(rng), NewLeastLoaded(rng), NewTether(rng, TetherOptions{})} {
		for _, got := range picks(d, f, edgeOnly, 50) {
			if got != 1 {
				t.Fatalf("%s picked node %d; only node 1 is up and allowed", d.Name(), got)
			}
		}
	}
}

func TestNoUsableNodeGivesMinusOne(t *testing.T) {
	rng := seeded(t, 4)
	f := fleetOf(edgeNode("a", 1))
	cloudOnly := task(1, 1)
	cloudOnly.Tiers = MaskOf(TierCloud)
	for _, d := range []Dispatcher{&RoundRobin{}, NewRandom(rng), NewWeightedRandom(rng), NewP2C(rng),
		NewLeastWork(rng), NewLeastLoaded(rng), NewTether(rng, TetherOptions{})} {
		if got := d.Pick(f, cloudOnly, 0).Node; got != -1 {
			t.Errorf("%s picked %d, want -1", d.Name(), got)
		}
	}
}

func TestWeightedRandomFollowsCapacity(t *testing.T) {
	rng := seeded(t, 5)
	f := fleetOf(edgeNode("slow", 0.5), edgeNode("fast", 1.5))
	counts := [2]int{}
	for _, n := range picks(NewWeightedRandom(rng), f, task(1, 1), 20000) {
		counts[n]++
	}
	if share := float64(counts[1]) / 20000; share < 0.73 || share > 0.77 {
		t.Errorf("fast node got %.3f of tasks, want 0.75", share)
	}
}

func TestLeastLoadedReadsReports(t *testing.T) {
	rng := seeded(t, 6)
	f := fleetOf(edgeNode("a", 1), edgeNode("b", 1), edgeNode("c", 1))
	f.Deliver(0, Report{At: 1, Queue: 5}, 1)
	f.Deliver(1, Report{At: 1, Queue: 1}, 1)
	f.Deliver(2, Report{At: 1, Queue: 3}, 1)
	// The scheduler's own record says b is busy; least-loaded trusts the (stale) report.
	for k := 0; k < 8; k++ {
		f.Assign(1, task(uint64(10+k), 1), 1)
	}
	if got := NewLeastLoaded(rng).Pick(f, task(1, 1), 1).Node; got != 1 {
		t.Errorf("least-loaded picked %d, want 1 (fewest reported tasks)", got)
	}
	if got := NewLeastWork(rng).Pick(f, task(1, 1), 1).Node; got == 1 {
		t.Errorf("least-work picked 1, which holds all outstanding work")
	}
}

func TestLeastWorkNormalisesByCapacity(t *testing.T) {
	rng := seeded(t, 8)
	// Capacities: slow 4 × 0.5 = 2, fast 4 × 2 = 8 work units per second.
	for _, tc := range []struct {
		fastWork float64
		want     int
	}{
		{fastWork: 2, want: 1}, // fast (2+1)/8 = 0.375 < slow (0+1)/2 = 0.5
		{fastWork: 4, want: 0}, // fast (4+1)/8 = 0.625 > slow 0.5
	} {
		f := fleetOf(edgeNode("slow", 0.5), edgeNode("fast", 2))
		f.Assign(1, task(1, tc.fastWork), 0)
		if got := NewLeastWork(rng).Pick(f, task(2, 1), 0).Node; got != tc.want {
			t.Errorf("fast node holding %v: picked %d, want %d", tc.fastWork, got, tc.want)
		}
	}
}

func TestP2CKeepsTheLessLoadedOfTwo(t *testing.T) {
	rng := seeded(t, 9)
	f := fleetOf(edgeNode("a", 1), edgeNode("b", 1))
	for k := 0; k < 10; k++ {
		f.Assign(0, task(uint64(k+1), 1), 0)
	}
	counts := [2]int{}
	for _, n := range picks(NewP2C(rng), f, task(99, 1), 4000) {
		counts[n]++
	}
	// b is chosen unless both draws hit a: probability 1/4.
	if share := float64(counts[0]) / 4000; share < 0.22 || share > 0.28 {
		t.Errorf("loaded node chosen %.3f of the time, want 0.25", share)
	}
}

func TestPerTaskFollowsTheSpec(t *testing.T) {
	f := fleetOf(edgeNode("a", 1), edgeNode("b", 1), edgeNode("c", 1))
	p, err := NewPerTask(NewRegistry(), Env{Rand: seeded(t, 1)}, "tether", "rr")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for k, pol := range []string{"rr", "rr", "rr", "", "nope"} {
		tk := task(uint64(k+1), 1)
		tk.Policy = pol
		got = append(got, p.Pick(f, tk, 0).Node)
	}
	// rr cycles 0, 1, 2; the default (tether) and the unknown name both pick the idle,
	// equally fast, lowest-index node 0.
	if diff := cmp.Diff([]int{0, 1, 2, 0, 0}, got); diff != "" {
		t.Errorf("picks (-want +got):\n%s", diff)
	}
	if p.Fallbacks() != 1 {
		t.Errorf("fallbacks = %d, want 1", p.Fallbacks())
	}
	if _, err := NewPerTask(NewRegistry(), Env{Rand: seeded(t, 1)}, "tether", "sjf"); err == nil {
		t.Error("mixing in a central queue: no error")
	}
}
