package taskengine

import (
	"maps"
	"sort"
	"time"

	"github.com/tether-edge/tether/pkg/task"
)

// NodeState is what the scheduler knows of a node from the fleet: the
// engine's input, made from a fleet.Node, with the bounds the engine sets.
type NodeState struct {
	ID     string
	Online bool
	// Instance is the agent process behind the node's current birth: a
	// new one means the agent restarted.
	Instance string
	// Facts, from the node's birth; HasFacts is false until one is seen,
	// and such a node is never chosen.
	HasFacts bool
	Tier     string
	Labels   map[string]string
	// Model is the board the node reports (facts.model), e.g. "Raspberry Pi 4 Model B
	// Rev 1.4"; placement takes a known board's speed as its prior.
	Model string
	Cores int
	// TaskSlots is how many tasks the agent runs at once, from its facts
	// (0: not reported).
	TaskSlots int
	// ProgressEvery is how often the agent reports a running task's
	// progress, from its facts (0: only at checkpoints, an older agent).
	ProgressEvery time.Duration
	MemTotal      int64 // bytes
	// Slots and MaxSpeed are set by the engine (Limits): how many of the
	// scheduler's tasks the node may have assigned or running at once —
	// its claim within what the operator allows — and the highest speed
	// a label of the node may declare.
	Slots    int
	MaxSpeed float64
	// Queue is set by the engine (Options.NodeQueue): how many of the
	// scheduler's tasks beyond Slots the node may be assigned, to wait in
	// its agent's queue.
	Queue int
	// From the node's latest metrics, for placers that use them (zero:
	// none reported): CPU is the busy share of all its cores in [0, 1];
	// Throttled (thermal throttling or a capped clock) and Undervoltage
	// are the health flags it reports now.
	CPU          float64
	Throttled    bool
	Undervoltage bool
	// DiskFull: the node's birth says its disk is full. It is not a
	// candidate: an assignment it could not journal would wait there.
	DiskFull bool
}

// Candidate is an online node placement may choose, with the load the
// scheduler's own records put on it: the tasks it assigned there that are
// not finished. Placers must treat it as read-only.
type Candidate struct {
	NodeState
	// Outstanding is the remaining estimated work of those tasks, in work
	// units: Spec.Work (1 when unknown) less their reported progress.
	Outstanding float64
	CPUMillis   int64 // requested by those tasks
	MemBytes    int64 // requested by those tasks
	Tasks       int
}

// engineNode is a node in the engine.
type engineNode struct {
	Candidate
	// offlineSince is when the node was last seen going offline (or when
	// the engine started, for a node tasks reference but the fleet has
	// not reported); zero while online.
	offlineSince instant
	strikes      int // the node's failures in a row (quarantine.go)
	// untilAt is the end of its quarantine on the monotonic clock (zero:
	// not quarantined), until the same on the wall clock, for display.
	untilAt instant
	until   time.Time
}

// charge is what a task's current attempt puts on its node.
type charge struct {
	node string // "" when nothing is charged
	work float64
	cpu  int64
	mem  int64
}

// defaultWork stands for a task whose submitter gave no estimate.
const defaultWork = 1.0

func (e *Engine) node(id string) *engineNode {
	n, ok := e.nodes[id]
	if !ok {
		n = &engineNode{Candidate: Candidate{NodeState: NodeState{ID: id}}, offlineSince: startInstant}
		e.nodes[id] = n
	}
	return n
}

// remaining is the task's estimated work left.
func remaining(t *Task) float64 {
	w := t.Spec.Work
	if w <= 0 {
		w = defaultWork
	}
	if t.Total > 0 && t.Progress > 0 {
		w *= 1 - float64(min(t.Progress, t.Total))/float64(t.Total)
	}
	return w
}

// chargeNode puts en's current attempt on its node's load.
func (e *Engine) chargeNode(en *entry) {
	e.release(en)
	t := en.t
	if t.Node == "" {
		return
	}
	c := charge{node: t.Node, work: remaining(t), cpu: t.Spec.Resources.CPUMillis, mem: t.Spec.Resources.MemMB << 20}
	n := e.node(t.Node)
	n.Outstanding += c.work
	n.CPUMillis += c.cpu
	n.MemBytes += c.mem
	n.Tasks++
	en.charge = c
}

// release takes en's charge off its node; a node with less load may now
// fit a pending task.
func (e *Engine) release(en *entry) {
	c := en.charge
	if c.node == "" {
		return
	}
	n := e.node(c.node)
	n.Outstanding -= c.work
	if n.Outstanding < 1e-9 {
		n.Outstanding = 0 // no drift below zero from float sums
	}
	n.CPUMillis -= c.cpu
	n.MemBytes -= c.mem
	n.Tasks--
	en.charge = charge{}
	e.placeDue = true
}

// UpdateNode applies what the fleet says of one node now: after its
// birth, will or goodbye, or when its heartbeat went overdue.
func (e *Engine) UpdateNode(n NodeState) {
	now := e.clock()
	ns := e.node(n.ID)
	old := ns.NodeState
	n.Labels = maps.Clone(n.Labels)
	e.opts.Limits.bound(&n)
	n.Queue = e.opts.NodeQueue
	ns.NodeState = n
	if old.Online != n.Online || old.HasFacts != n.HasFacts || old.Tier != n.Tier || old.Cores != n.Cores ||
		old.MemTotal != n.MemTotal || old.Slots != n.Slots || old.DiskFull != n.DiskFull || !maps.Equal(old.Labels, n.Labels) {
		e.cands = nil
		e.placeDue = true
	}
	if n.DiskFull != old.DiskFull {
		if n.DiskFull {
			e.log.Warn("node's disk is full: no new task is placed there until it has space again", "node", n.ID)
		} else {
			e.log.Info("node has disk space again: tasks are placed there", "node", n.ID)
		}
	}
	if e.observer != nil {
		e.observer.NodeUpdated(n)
	}
	switch {
	case !n.Online && old.Online:
		ns.offlineSince = now
	case !n.Online && ns.offlineSince.isZero():
		ns.offlineSince = now
	case n.Online:
		ns.offlineSince = 0
		if !old.Online || old.Instance != n.Instance {
			e.nodeBack(n.ID)
		}
	}
}

// SyncNodes applies the fleet's whole view: nodes it no longer lists are
// offline.
func (e *Engine) SyncNodes(all []NodeState) {
	seen := make(map[string]bool, len(all))
	for _, n := range all {
		seen[n.ID] = true
		e.UpdateNode(n)
	}
	for id, ns := range e.nodes {
		if !seen[id] && ns.Online {
			n := ns.NodeState
			n.Online = false
			e.UpdateNode(n)
		}
	}
}

// candidates returns the online nodes with facts that are not in
// quarantine and whose disk is not full, sorted by id so that placement
// is deterministic.
func (e *Engine) candidates() []*Candidate {
	if e.cands != nil {
		return e.cands
	}
	e.cands = make([]*Candidate, 0, len(e.nodes))
	for _, n := range e.nodes {
		if n.Online && n.HasFacts && !n.quarantined() && !n.DiskFull {
			e.cands = append(e.cands, &n.Candidate)
		}
	}
	sort.Slice(e.cands, func(i, j int) bool { return e.cands[i].ID < e.cands[j].ID })
	return e.cands
}

// lostNodes re-queues the tasks of nodes offline for longer than the
// grace, as new attempts that use no retry.
func (e *Engine) lostNodes(now instant) {
	var lost map[string]bool
	for id, n := range e.nodes {
		if !n.Online && n.Tasks > 0 && now.sub(n.offlineSince) >= e.opts.Grace {
			if lost == nil {
				lost = map[string]bool{}
			}
			lost[id] = true
		}
	}
	if lost == nil {
		return
	}
	for _, en := range e.sortedTasks() {
		if node := en.charge.node; node != "" && lost[node] {
			e.log.Warn("node lost: task re-queued", "task", en.t.Spec.ID, "node", node, "attempt", en.t.Attempt,
				"offline_for", now.sub(e.nodes[node].offlineSince).Round(time.Second))
			e.endAttempt(en, "node lost", true)
			e.requeue(en)
		}
	}
}

// sortedTasks returns the tasks in memory that are not finished, by id.
func (e *Engine) sortedTasks() []*entry {
	out := make([]*entry, 0, len(e.tasks))
	for _, en := range e.tasks {
		if !task.Terminal(en.t.State) {
			out = append(out, en)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].t.Spec.ID < out[j].t.Spec.ID })
	return out
}
