package live

import (
	"math"
	"slices"
	"strings"

	"github.com/tether-edge/tether/broker/place"
	"github.com/tether-edge/tether/broker/tasks"
)

var _ tasks.Preempter = (*Placer)(nil)

// Victim implements tasks.Preempter: for a deadline task the Tether policy
// places (the cost model; no baseline and no central queue preempts, so
// their names keep meaning their algorithms) and no placement meets,
// the running attempt whose node, once it yields, gets the task done in
// time. A victim runs a checkpointable task without a deadline (it resumes
// from its last checkpoint and no deadline of its is put at risk), on an
// edge node the task may run on, where nothing else waits to start (the
// freed slot would go to what the node queued first). Among several, the
// one with the most work left yields: it loses the least in proportion.
// O(attempts).
//
// Under srtf the rule is the simulator's SRTF instead (srtfVictim).
func (p *Placer) Victim(r *tasks.Request, nodes []*tasks.Candidate) (string, uint32, bool) {
	if p.def == "srtf" {
		return p.srtfVictim(r, nodes)
	}
	if p.opt.NoPreempt || p.queue || r.Spec == nil || r.Spec.Deadline.D() <= 0 {
		return "", 0, false
	}
	now := p.now()
	var t place.Task
	p.task(&t, r)
	if p.policyName(&t) != "tether" {
		return "", 0, false
	}
	waiting := map[int]bool{} // fleet nodes with an attempt not started yet
	for _, a := range p.attempts {
		if a.index >= 0 && a.started < 0 {
			waiting[a.index] = true
		}
	}
	best, bestLeft := "", -1.0
	var bestN uint32
	for id, a := range p.attempts {
		i := a.index
		if i < 0 || a.started < 0 || !a.t.Checkpointable || a.t.Deadline > 0 || waiting[i] || !p.fleet.Up(i) {
			continue
		}
		n := p.fleet.Node(i)
		if n.Tier != place.TierEdge || !t.Tiers.Allows(n.Tier) {
			continue
		}
		c := findCandidate(nodes, n.ID)
		if c == nil || !tasks.FitsWhenFree(r, c) || c.ID == r.Avoid {
			continue
		}
		in, out := place.Transfer(p.fleet, i, &t, p.fleet.WANUpFreeAt(now)-now)
		done := now + in + t.Left()/p.fleet.RateQuantile(i, t.Class) + out // on the 90th percentile
		if done > t.Deadline {
			continue
		}
		left := a.t.Left() - (now-a.started)*p.fleet.Rate(i, a.t.Class)
		if left > bestLeft || (left == bestLeft && id < best) {
			best, bestLeft, bestN = id, left, a.n
		}
	}
	if best == "" || math.IsNaN(bestLeft) {
		return "", 0, false
	}
	p.log.Info("preemption", "task", r.Task, "victim", best, "node", p.attempts[best].node, "victim_work_left", round(bestLeft))
	return best, bestN, true
}

// findCandidate returns the engine's candidate id from nodes (sorted by id).
func findCandidate(nodes []*tasks.Candidate, id string) *tasks.Candidate {
	k, ok := slices.BinarySearchFunc(nodes, id, func(c *tasks.Candidate, id string) int { return strings.Compare(c.ID, id) })
	if !ok {
		return nil
	}
	return nodes[k]
}
