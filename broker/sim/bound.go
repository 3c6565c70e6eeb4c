package sim

import (
	"math"

	"github.com/tether-edge/tether/broker/place"
)

// Bound is a clairvoyant lower bound on what any placement could achieve for one run's
// measured tasks: each task alone on the fleet, on the node where it would finish first at
// that node's best possible speed (no background load, no throttling, undervoltage only where
// the node has it), with its input and result moved over idle links. No policy — preemptive,
// clairvoyant or otherwise — can finish a task sooner, so every order statistic of the bound
// (mean, p50, p99) is below the same statistic of any policy's times on the same tasks, and a
// task whose bound passes its deadline misses under every policy. The bound ignores queueing
// entirely, so it is loose at high load: it bounds, it does not estimate.
type Bound struct {
	Mean, P50, P99 float64
	Miss           float64 // share of measured tasks that miss their deadline under any policy
}

// bestTime is the bound for one task: the earliest it could be back at its source.
func (w *world) bestTime(t *place.Task, scale float64) float64 {
	best := -1.0
	for i := range w.nodes {
		n := w.real.Node(i)
		if !t.Tiers.Allows(n.Tier) || t.MemBytes > n.MemBytes {
			continue
		}
		p := &w.nodes[i].prof
		r := p.Speed * p.ClassFactor[t.Class]
		if w.nodes[i].undervolt {
			r *= p.UndervoltSpeed
		}
		if r <= 0 {
			continue
		}
		in, out := place.Transfer(w.real, i, t, place.WANWaits{})
		if w.nodes[i].prof.Tier == place.TierCloud {
			in += w.cfg.CloudStartup
			r *= math.Exp(jitterClamp * w.cfg.CloudJitter) // the fastest draw there is
		}
		if d := in + t.Left()*scale/r + out; best < 0 || d < best {
			best = d
		}
	}
	return best
}

// bound computes the run's Bound over its measured tasks.
func (w *world) bound() Bound {
	var b Bound
	var times []float64
	missed := 0
	for _, j := range w.jobs {
		if !j.measured || j.best < 0 {
			continue
		}
		times = append(times, j.best)
		if j.task.Deadline > 0 && j.task.Arrival+j.best > j.task.Deadline {
			missed++
		}
	}
	if len(times) == 0 {
		return b
	}
	s := sorted(times)
	b.Mean, b.P50, b.P99 = mean(s), quantile(s, 0.5), quantile(s, 0.99)
	b.Miss = float64(missed) / float64(len(times))
	return b
}
