package place

import "math/rand/v2"

// LeastLoaded picks the node with the fewest reported tasks per core, from telemetry that may
// be seconds old: the textbook policy whose herding on stale data Mitzenmacher describes.
// O(n) per decision; ties go to the first node after a random starting point.
type LeastLoaded struct{ rng *rand.Rand }

func NewLeastLoaded(rng *rand.Rand) *LeastLoaded { return &LeastLoaded{rng: rng} }

func (p *LeastLoaded) Name() string { return "least-loaded" }

func (p *LeastLoaded) Pick(f *View, t *Task, _ float64) Decision {
	return argmin(f, t, p.rng, func(i int) float64 {
		return float64(f.Reported(i).Queue) / float64(max(1, f.Node(i).Cores))
	})
}

// LeastWork picks the node that would clear its outstanding work plus t soonest, from the
// scheduler's own exact record of what it assigned and what finished (least-outstanding-work)
// over the node's learned capacity (cores × the rate learned for t's class, net of reported
// background load), plus the time to move t's input there and its result back, behind the
// WAN backlog for the cloud: least-work at its best, with the information Tether has but
// without its projection of each core or deadlines. O(n) per decision.
type LeastWork struct{ rng *rand.Rand }

func NewLeastWork(rng *rand.Rand) *LeastWork { return &LeastWork{rng: rng} }

func (p *LeastWork) Name() string { return "least-work" }

func (p *LeastWork) Pick(f *View, t *Task, now float64) Decision {
	return argmin(f, t, p.rng, func(i int) float64 { return clearTime(f, i, t, now) })
}

// P2C is capacity-aware power-of-two-choices: draw two nodes with probability proportional
// to declared capacity (plain uniform sampling is not throughput-optimal on heterogeneous
// nodes) and keep the one that would clear its work and t sooner, by LeastWork's measure.
// O(log n) per decision.
type P2C struct{ rng *rand.Rand }

func NewP2C(rng *rand.Rand) *P2C { return &P2C{rng: rng} }

func (p *P2C) Name() string { return "p2c" }

func (p *P2C) Pick(f *View, t *Task, now float64) Decision {
	a, ok := drawByCapacity(f, t, p.rng)
	if !ok {
		if f.Len() == 0 {
			return NoNode()
		}
		return scanFrom(f, t, p.rng.IntN(f.Len()))
	}
	b, ok := drawByCapacity(f, t, p.rng)
	if ok && clearTime(f, b, t, now) < clearTime(f, a, t, now) {
		a = b
	}
	return Decision{Node: a}
}

// clearTime is the seconds node i needs to clear its outstanding work and t at its learned
// capacity for t's class, plus t's transfers (behind the WAN uplink's backlog for the cloud).
func clearTime(f *View, i int, t *Task, now float64) float64 {
	n := f.Node(i)
	in, out := Transfer(f, i, t, Waits(f, now))
	return in + (f.Outstanding(i)+t.Left())/max(float64(n.Cores)*f.Rate(i, t.Class), 1e-9) + out
}

// argmin scans every usable node from a random start and returns the lowest cost.
func argmin(f *View, t *Task, rng *rand.Rand, cost func(int) float64) Decision {
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
