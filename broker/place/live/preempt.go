package live

import (
	"slices"
	"strings"

	"github.com/tether-edge/tether/broker/place"
	"github.com/tether-edge/tether/broker/taskengine"
)

var _ taskengine.Preempter = (*Placer)(nil)

// Victim implements taskengine.Preempter: for a deadline task the Tether policy
// places (the cost model; no baseline and no central queue but srtf
// preempts, so their names keep meaning their algorithms) and no placement meets,
// the running attempt place.TetherVictim names — the rule the simulator's
// "tether" preempts by — on the engine's candidates where the task fits
// once a slot frees, other than the node it is to avoid. O(attempts).
//
// Under srtf the rule is the simulator's SRTF instead (srtfVictim).
func (p *Placer) Victim(r *taskengine.Request, nodes []*taskengine.Candidate) (string, uint32, bool) {
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
	v, ok := place.TetherVictim(p.fleet, &t, now, func(i int) bool {
		c := findCandidate(nodes, p.fleet.Node(i).ID)
		return c != nil && taskengine.FitsWhenFree(r, c) && c.ID != r.Avoid
	})
	if !ok {
		return "", 0, false
	}
	for id, a := range p.attempts {
		if a.index == v.Node && a.t.ID == v.ID {
			p.log.Info("preemption", "task", r.Task, "victim", id, "node", a.node, "victim_work_left", round(v.Left))
			return id, a.n, true
		}
	}
	return "", 0, false // cannot happen: the fleet records the placer's attempts
}

// findCandidate returns the engine's candidate id from nodes (sorted by id).
func findCandidate(nodes []*taskengine.Candidate, id string) *taskengine.Candidate {
	k, ok := slices.BinarySearchFunc(nodes, id, func(c *taskengine.Candidate, id string) int { return strings.Compare(c.ID, id) })
	if !ok {
		return nil
	}
	return nodes[k]
}
