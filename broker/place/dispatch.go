package place

import "math/rand/v2"

// Decision is a dispatcher's answer for one task.
type Decision struct {
	Node int // chosen node index, or -1 when no node can take the task
	// Est is the estimated completion time, for policies that estimate one (else 0).
	Est float64
}

// NoNode is the decision when no usable node exists.
func NoNode() Decision { return Decision{Node: -1} }

// Dispatcher picks a node for a task the moment it arrives; the task then waits in that
// node's FIFO queue. Pick may update the policy's own state (a cursor, a budget) as if the
// decision were carried out; the caller then records it with View.Assign.
type Dispatcher interface {
	Name() string
	Pick(f *View, t *Task, now float64) Decision
}

// retries bounds rejection sampling before a policy falls back to a scan.
const retries = 16

// RoundRobin cycles through all nodes in index order, skipping those down or unfit.
type RoundRobin struct{ next int }

func (p *RoundRobin) Name() string { return "rr" }

func (p *RoundRobin) Pick(f *View, t *Task, _ float64) Decision {
	n := f.Len()
	for k := 0; k < n; k++ {
		i := (p.next + k) % n
		if f.usable(i, t) {
			p.next = i + 1
			return Decision{Node: i}
		}
	}
	return NoNode()
}

// Random picks a node uniformly among those up and fit.
type Random struct{ rng *rand.Rand }

func NewRandom(rng *rand.Rand) *Random { return &Random{rng: rng} }

func (p *Random) Name() string { return "random" }

func (p *Random) Pick(f *View, t *Task, _ float64) Decision {
	n := f.Len()
	if n == 0 {
		return NoNode()
	}
	for k := 0; k < retries; k++ {
		if i := p.rng.IntN(n); f.usable(i, t) {
			return Decision{Node: i}
		}
	}
	return scanFrom(f, t, p.rng.IntN(n))
}

// WeightedRandom picks a node with probability proportional to its declared capacity
// (cores × speed), among those up and fit. O(log n) per draw.
type WeightedRandom struct{ rng *rand.Rand }

func NewWeightedRandom(rng *rand.Rand) *WeightedRandom { return &WeightedRandom{rng: rng} }

func (p *WeightedRandom) Name() string { return "wrandom" }

func (p *WeightedRandom) Pick(f *View, t *Task, _ float64) Decision {
	if i, ok := drawByCapacity(f, t, p.rng); ok {
		return Decision{Node: i}
	}
	if f.Len() == 0 {
		return NoNode()
	}
	return scanFrom(f, t, p.rng.IntN(f.Len()))
}

// drawByCapacity draws a usable node with probability proportional to capacity.
func drawByCapacity(f *View, t *Task, rng *rand.Rand) (int, bool) {
	total := f.capW.total()
	if total <= 0 {
		return -1, false
	}
	for k := 0; k < retries; k++ {
		if i := f.capW.find(rng.Float64() * total); f.usable(i, t) {
			return i, true
		}
	}
	return -1, false
}

// scanFrom returns the first usable node at or after start, cyclically.
func scanFrom(f *View, t *Task, start int) Decision {
	n := f.Len()
	for k := 0; k < n; k++ {
		if i := (start + k) % n; f.usable(i, t) {
			return Decision{Node: i}
		}
	}
	return NoNode()
}
