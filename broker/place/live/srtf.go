package live

import (
	"github.com/tether-edge/tether/broker/place"
	"github.com/tether-edge/tether/broker/taskengine"
)

// srtfState is what srtf carries from a Place that found no node to the Victim the engine
// asks next, and from that Victim to the Place that follows the preemption: as in the
// simulator (place.Central.Submit), the task takes the slot its victim frees.
type srtfState struct {
	declined string // the task the last Place found no node for; "" after any other Place
	// The victim chosen for declined: its fleet node and record id. yieldTask is "" when none.
	yieldTask string
	yieldNode int
	yieldID   uint64
}

// srtfVictim is Victim under srtf: place.SRTFVictim, the simulator's rule, for a task the
// last Place found no node for — the running checkpointable attempt with the most estimated
// work left, above the task's own, on an up node the task may run on once a slot frees (any
// tier; with or without a deadline of its own). O(attempts).
func (p *Placer) srtfVictim(r *taskengine.Request, nodes []*taskengine.Candidate) (string, uint32, bool) {
	s := &p.srtf
	if s.declined != r.Task {
		return "", 0, false // Place found it a node: srtf preempts only for a task that waits
	}
	if s.yieldTask != r.Task {
		var t place.Task
		p.task(&t, r)
		p.cur, p.req, p.avoid = nodes, r, r.Avoid
		v, id, ok := place.SRTFVictim(p.fleet, &t, p.now())
		p.cur, p.req = nil, nil
		if !ok {
			return "", 0, false
		}
		s.yieldTask, s.yieldNode, s.yieldID = r.Task, v, id
	}
	for task, a := range p.attempts {
		if a.index == s.yieldNode && a.t.ID == s.yieldID && a.started >= 0 {
			p.log.Info("preemption", "policy", "srtf", "task", r.Task, "victim", task, "node", a.node,
				"victim_work_left", round(a.t.Left()-(p.now()-a.started)*p.fleet.Rate(a.index, a.t.Class)))
			return task, a.n, true
		}
	}
	s.yieldTask = ""
	return "", 0, false
}

// srtfDecide is the queue's decision under srtf for p.req (the one in progress): the slot its
// victim just freed, when the engine preempted for it; else place.SlotRule's node, unless
// that is a cloud slot and a victim's edge slot would have the task back sooner
// (place.PreemptBeats): then none, and the victim is kept for Victim.
func (p *Placer) srtfDecide(y srtfState, now float64) place.Decision {
	r := p.req
	if y.yieldTask == r.Task && p.fleet.Up(y.yieldNode) && p.fleet.FreeSlots(y.yieldNode) > 0 && p.allowed(y.yieldNode) {
		if c := p.candidate(y.yieldNode); c != nil && taskengine.Fits(r, c) {
			return place.Decision{Node: y.yieldNode}
		}
	}
	i := place.SlotRule(p.fleet, p.pick, &p.tk, r.Ahead, now)
	if i >= 0 {
		if c := p.candidate(i); c == nil || !taskengine.Fits(r, c) {
			i = -1
		}
	}
	if i >= 0 && p.fleet.Node(i).Tier == place.TierCloud {
		if v, id, ok := place.SRTFVictim(p.fleet, &p.tk, now); ok && place.PreemptBeats(p.fleet, &p.tk, v, i, now) {
			p.srtf.yieldTask, p.srtf.yieldNode, p.srtf.yieldID = r.Task, v, id
			return place.Decision{Node: -1}
		}
	}
	return place.Decision{Node: i}
}
