package place

import "math/rand/v2"

// LeastLoaded picks the node with the fewest reported tasks per core, from telemetry that may
// be seconds old: the textbook policy whose herding on stale data Mitzenmacher describes.
// O(n) per decision; ties go to the first node after a random starting point.
type LeastLoaded struct{ rng *rand.Rand }

func NewLeastLoaded(rng *rand.Rand) *LeastLoaded { return &LeastLoaded{rng: rng} }

func (p *LeastLoaded) Name() string { return "least-loaded" }

func (p *LeastLoaded) Pick(f *Fleet, t *Task, _ float64) Decision {
	return argmin(f, t, p.rng, func(i int) float64 {
		return float64(f.Reported(i).Queue) / float64(max(1, f.Node(i).Cores))
	})
}

// LeastWork picks the node with the least outstanding work per unit of declared capacity,
// from the scheduler's own exact record of what it assigned and what finished
// (least-outstanding-work). O(n) per decision.
type LeastWork struct{ rng *rand.Rand }

func NewLeastWork(rng *rand.Rand) *LeastWork { return &LeastWork{rng: rng} }

func (p *LeastWork) Name() string { return "least-work" }

func (p *LeastWork) Pick(f *Fleet, t *Task, _ float64) Decision {
	return argmin(f, t, p.rng, func(i int) float64 { return workPerCapacity(f, i, t) })
}

// P2C is capacity-aware power-of-two-choices: draw two nodes with probability proportional
// to declared capacity (plain uniform sampling is not throughput-optimal on heterogeneous
// nodes) and keep the one with less outstanding work per unit of capacity, by the
// scheduler's own record. O(log n) per decision.
type P2C struct{ rng *rand.Rand }

func NewP2C(rng *rand.Rand) *P2C { return &P2C{rng: rng} }

func (p *P2C) Name() string { return "p2c" }

func (p *P2C) Pick(f *Fleet, t *Task, _ float64) Decision {
	a, ok := drawByCapacity(f, t, p.rng)
	if !ok {
		if f.Len() == 0 {
			return NoNode()
		}
		return scanFrom(f, t, p.rng.IntN(f.Len()))
	}
	b, ok := drawByCapacity(f, t, p.rng)
	if ok && workPerCapacity(f, b, t) < workPerCapacity(f, a, t) {
		a = b
	}
	return Decision{Node: a}
}

// workPerCapacity is the outstanding work on node i, including t, over its capacity.
func workPerCapacity(f *Fleet, i int, t *Task) float64 {
	return (f.Outstanding(i) + t.Left()) / max(f.Node(i).Capacity(), 1e-9)
}

// argmin scans every usable node from a random start and returns the lowest cost.
func argmin(f *Fleet, t *Task, rng *rand.Rand, cost func(int) float64) Decision {
	n := f.Len()
	if n == 0 {
		return NoNode()
	}
	best, bestCost := -1, 0.0
	start := rng.IntN(n)
	for k := 0; k < n; k++ {
		i := (start + k) % n
		if !f.usable(i, t) {
			continue
		}
		if c := cost(i); best < 0 || c < bestCost {
			best, bestCost = i, c
		}
	}
	return Decision{Node: best}
}
