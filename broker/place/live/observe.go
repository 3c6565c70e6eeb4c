package live

import (
	"github.com/tether-edge/tether/broker/place"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/task"
)

// NodeUpdated implements taskengine.Observer. A node joins the fleet with its first facts; its
// declaration follows its facts and labels, its availability whether it is online, and its
// report its latest metrics. O(log n), O(n) when its tier changes.
func (p *Placer) NodeUpdated(n taskengine.NodeState) {
	now := p.now()
	i, known := p.nodes[n.ID]
	if !n.HasFacts {
		if known {
			p.setUp(i, false, now)
		}
		return
	}
	d := p.declare(&n)
	if d.Tier == place.TierCloud {
		p.refreshWAN() // the WAN follows its measurements at each cloud node's report
	}
	if !known {
		i = p.fleet.AddNode(d)
		p.nodes[n.ID] = i
		p.decl = append(p.decl, d)
		p.rep = append(p.rep, place.Report{})
		p.up++
		p.adopt(n.ID, i, now)
	} else if d != p.decl[i] {
		p.fleet.Redeclare(i, d, now)
		p.decl[i] = d
	}
	p.setUp(i, n.Online, now)
	if r := p.report(&n, i, now); r.BgLoad != p.rep[i].BgLoad || r.Health != p.rep[i].Health || r.Queue != p.rep[i].Queue {
		p.fleet.Deliver(i, r, now)
		p.rep[i] = r
	}
}

// setUp makes fleet node i available for new tasks or not; it keeps its record either way.
func (p *Placer) setUp(i int, up bool, now float64) {
	switch was := p.fleet.Up(i); {
	case up && !was:
		p.fleet.Revive(i, now)
		p.up++
	case !up && was:
		p.fleet.Offline(i, now)
		p.up--
	}
}

// sync brings the fleet's view in line with the engine's candidates: for a Placer whose
// Observer calls were missed. O(n).
func (p *Placer) sync(nodes []*taskengine.Candidate) {
	now := p.now()
	online := make(map[string]bool, len(nodes))
	for _, c := range nodes {
		online[c.ID] = true
		p.NodeUpdated(c.NodeState)
	}
	for id, i := range p.nodes {
		if !online[id] {
			p.setUp(i, false, now)
		}
	}
}

// adopt records the attempts found assigned to node id before it joined the fleet.
func (p *Placer) adopt(id string, i int, now float64) {
	for _, t := range p.orphans[id] {
		if a := p.attempts[t]; a != nil && a.index < 0 && a.node == id {
			p.assign(a, i, now)
		}
	}
	delete(p.orphans, id)
}

// AttemptAssigned implements taskengine.Observer.
func (p *Placer) AttemptAssigned(at taskengine.Attempt) {
	now := p.now()
	if old := p.attempts[at.Task]; old != nil {
		p.end(at.Task, old, nil, now) // a new attempt without the end of the old one: cannot happen
	}
	a := &attempt{n: at.Attempt, node: at.Node, index: -1, started: -1}
	switch {
	case at.Request == nil:
		a.t = place.Task{Work: unknownWork, Source: -1}
	case at.Task == p.lastTask:
		a.t = p.last // the decision just made
	default:
		p.task(&a.t, at.Request)
	}
	if at.Request != nil {
		a.perUnit = perUnit(at.Request.Spec)
	}
	p.lastTask = ""
	p.nextID++
	a.t.ID, a.t.Allow = p.nextID, nil
	if !at.Started.IsZero() {
		a.started = max(p.secs(at.Started), 0)
	}
	p.attempts[at.Task] = a
	if i, ok := p.nodes[at.Node]; ok {
		p.assign(a, i, now)
	} else {
		p.orphans[at.Node] = append(p.orphans[at.Node], at.Task)
	}
}

// assign records attempt a on fleet node i.
func (p *Placer) assign(a *attempt, i int, now float64) {
	a.index = i
	p.fleet.Assign(i, &a.t, now)
	if a.started >= 0 {
		p.fleet.Started(i, a.t.ID, a.started)
	}
}

// AttemptRunning implements taskengine.Observer.
func (p *Placer) AttemptRunning(t string, n uint32) {
	a := p.attempts[t]
	if a == nil || a.n != n || a.started >= 0 {
		return
	}
	a.started = p.now()
	if a.index >= 0 {
		p.fleet.Started(a.index, a.t.ID, a.started)
	}
}

// AttemptEnded implements taskengine.Observer.
func (p *Placer) AttemptEnded(t string, n uint32, res *task.Result) {
	if a := p.attempts[t]; a != nil && a.n == n {
		p.end(t, a, res, p.now())
	}
}

// end forgets attempt a of task t. A success teaches its node's rate for the task's class:
// from the node's own measurement when the result has one — work_done of a builtin's units
// in its compute time, duration_ms less fetch_ms — else from when the scheduler saw it
// start (the running event, sent once the inputs are on the node) and end.
func (p *Placer) end(t string, a *attempt, res *task.Result, now float64) {
	delete(p.attempts, t)
	if a.index < 0 {
		l := p.orphans[a.node]
		if k := indexOf(l, t); k >= 0 {
			p.orphans[a.node] = append(l[:k], l[k+1:]...)
		}
		if len(p.orphans[a.node]) == 0 {
			delete(p.orphans, a.node)
		}
		return
	}
	if res == nil {
		p.fleet.Removed(a.index, a.t.ID, now)
		return
	}
	work := a.perUnit * float64(res.WorkDone) // 0: the recorded work
	p.fleet.Completed(a.index, a.t.ID, work, computeSeconds(res), now)
}

// computeSeconds is how long the node computed an attempt by its result: its wall time less
// the time its inputs took to reach the node, which measures the path, not the node's speed.
// An agent that does not report fetch_ms has its whole wall time taken. 0: not measured.
func computeSeconds(res *task.Result) float64 {
	return float64(res.DurationMS-res.FetchMS) / 1000
}

// perUnit is the work of one unit of a builtin task, 0 for other kinds: a builtin's result
// says how many units its run did (after a restart of its agent, fewer than the attempt's).
func perUnit(s *task.Spec) float64 {
	b := s.Builtin
	if s.Kind != task.KindBuiltin || b == nil || b.Units <= 0 {
		return 0
	}
	w := s.Work
	if w <= 0 {
		w = unknownWork
	}
	return w / float64(b.Units)
}

func indexOf(l []string, s string) int {
	for k, v := range l {
		if v == s {
			return k
		}
	}
	return -1
}
