package place

import "math/rand/v2"

// ActionKind says what a central policy wants done.
type ActionKind uint8

const (
	// Bind: start Task on Node (already recorded in the View).
	Bind ActionKind = iota
	// Preempt: checkpoint task TaskID on Node and hand it back with Requeue; its record is
	// already removed from the View.
	Preempt
	// Reject: admission control refused Task; it will not run.
	Reject
)

// Action is one instruction from a central policy to its caller.
type Action struct {
	Kind   ActionKind
	Task   *Task  // Bind, Reject
	TaskID uint64 // Preempt
	Node   int
}

// CentralOptions tune a central policy; zero values take the defaults in parentheses.
type CentralOptions struct {
	// Aging is the waiting time worth one priority level (10 s).
	Aging float64
	// Slots is the cost-model rule that chooses among the nodes with a free slot: the Tether
	// policy, as the live scheduler's queues use it (nil: Tether with its defaults and a
	// fixed seed).
	Slots *Tether
}

// Central keeps one queue at the scheduler and binds a task only when a node has a free slot,
// to the free slot the cost model chooses, or leaves it waiting when a free cloud slot would
// finish it later than a wait for the edge (SlotRule): the rule the live scheduler's queues use,
// so a queue order named here is the one a scheduler runs. It records every binding in the
// View itself (View.Assign); the caller reports Started, Finished and Removed as usual and
// calls SlotFreed after each Finished or Removed, and NodeUp for a node that (re)joins.
//
// SRTF additionally preempts, on arrival, the checkpointable running task with the most
// estimated remaining work if that exceeds the new task's work, whenever the task would
// otherwise wait in the queue, and when the only free slot SlotRule found is a cloud slot that
// would finish it later than the preempted edge slot. EDF admits a task
// only if, with the fleet treated as one pool of its declared capacity, the work already
// outstanding plus the queued work due before it plus its own finishes by its deadline, and
// every queued task due later still does too; otherwise it is rejected.
type Central struct {
	name  string
	q     queue
	slots *Tether
}

// NewCentral returns a central policy with the given order and name.
func NewCentral(name string, order Order, opt CentralOptions) *Central {
	if opt.Aging <= 0 {
		opt.Aging = 10
	}
	if opt.Slots == nil {
		opt.Slots = NewTether(rand.New(rand.NewPCG(1, 1)), TetherOptions{})
	}
	return &Central{name: name, q: queue{order: order, aging: opt.Aging}, slots: opt.Slots}
}

// SlotRule chooses the node with a free slot for t, or -1 when t should wait in the queue.
// Among the nodes with a free slot it applies the Tether rule (earliest estimated completion
// that meets the deadline, over its bounded candidate set, and over every node when that set
// held no free slot t fits). An edge slot so chosen is always taken: the edge is the capacity
// the queue must keep busy. A cloud slot is taken only when the same rule over the edge
// nodes, busy ones included, finds none where t would finish sooner by waiting for a slot:
// a free cloud slot behind a backed-up WAN is worse than a short wait. The live scheduler's
// queues decide the same way (broker/place/live).
func SlotRule(f *View, p Dispatcher, t *Task, ahead, now float64) int {
	allow := t.Allow
	defer func() { t.Allow = allow }()
	t.Allow = func(i int) bool { return f.FreeSlots(i) > 0 && (allow == nil || allow(i)) }
	d := PickAll(f, p, t, now)
	if d.Node < 0 || f.Node(d.Node).Tier != TierCloud {
		return d.Node
	}
	t.Allow = func(i int) bool { return f.Node(i).Tier == TierEdge && (allow == nil || allow(i)) }
	if e := PickAll(f, p, t, now); e.Node >= 0 && waitBeats(t, e.Est+ahead/max(f.EdgeCapacity(), 1e-9), d.Est) {
		if r, ok := p.(refunder); ok {
			r.refund(f, d.Node, t)
		}
		return -1
	}
	return d.Node
}

// PickAll is p's decision, or the Tether rule over every node (an Oracle on f's own
// estimates) when p's candidates held none t fits: a task that few nodes fit (a label, a
// large reservation) still finds one.
func PickAll(f *View, p Dispatcher, t *Task, now float64) Decision {
	if d := p.Pick(f, t, now); d.Node >= 0 {
		return d
	}
	return NewOracle(f).Pick(f, t, now)
}

// waitBeats reports whether finishing at wait beats finishing at now: meeting t's deadline
// first, then the earlier time.
func waitBeats(t *Task, wait, now float64) bool {
	if t.Deadline > 0 && (wait <= t.Deadline) != (now <= t.Deadline) {
		return wait <= t.Deadline
	}
	return wait < now
}

// refunder is a Dispatcher that charged for a decision SlotRule does not carry out.
type refunder interface {
	refund(f *View, i int, t *Task)
}

func (c *Central) Name() string { return c.name }

// Len returns the number of tasks waiting in the central queue.
func (c *Central) Len() int { return len(c.q.items) }

// NodeUp offers every free slot of node i and binds queued tasks to them.
func (c *Central) NodeUp(f *View, i int, now float64, dst []Action) []Action {
	return c.SlotFreed(f, i, now, dst)
}

// SlotFreed offers the free slots of node i to the queue, in its order: each queued task
// that fits node i is bound where SlotRule says (node i or a better free slot), or left
// waiting when SlotRule says a wait beats the free slot it found (the work queued ahead of it
// counts toward that wait); the scan stops when node i has no free slot left. A
// slot no queued task takes stays free for a later arrival. O(queue) decisions at worst.
func (c *Central) SlotFreed(f *View, i int, now float64, dst []Action) []Action {
	ahead := 0.0
	for k := 0; k < len(c.q.items) && f.FreeSlots(i) > 0; {
		t := c.q.items[k]
		if !f.usable(i, t) {
			ahead += t.Left()
			k++
			continue
		}
		j := SlotRule(f, c.slots, t, ahead, now)
		if j < 0 {
			ahead += t.Left()
			k++
			continue
		}
		c.q.removeAt(k)
		f.Assign(j, t, now)
		dst = append(dst, Action{Kind: Bind, Task: t, Node: j})
	}
	return dst
}

// Submit accepts a new task: bind it to a free slot, preempt for it (SRTF), queue it, or
// reject it (EDF admission).
func (c *Central) Submit(f *View, t *Task, now float64, dst []Action) []Action {
	if c.q.order == OrderEDF && !c.admit(f, t, now) {
		return append(dst, Action{Kind: Reject, Task: t, Node: -1})
	}
	i := SlotRule(f, c.slots, t, c.q.ahead(t), now)
	if c.q.order == OrderSRTF && (i < 0 || f.Node(i).Tier == TierCloud) {
		if v, id, ok := c.victim(f, t, now); ok && (i < 0 || c.preemptBeats(f, t, v, i, now)) {
			if i >= 0 {
				c.slots.refund(f, i, t)
			}
			f.Removed(v, id, now)
			f.Assign(v, t, now)
			return append(dst, Action{Kind: Preempt, TaskID: id, Node: v},
				Action{Kind: Bind, Task: t, Node: v})
		}
	}
	if i >= 0 {
		f.Assign(i, t, now)
		return append(dst, Action{Kind: Bind, Task: t, Node: i})
	}
	c.q.push(t)
	return dst
}

// preemptBeats is PreemptBeats for the central policy.
func (c *Central) preemptBeats(f *View, t *Task, v, cloud int, now float64) bool {
	return PreemptBeats(f, t, v, cloud, now)
}

// Requeue puts back a preempted task (with Remaining set) without admission control.
func (c *Central) Requeue(f *View, t *Task, now float64, dst []Action) []Action {
	if i := SlotRule(f, c.slots, t, c.q.ahead(t), now); i >= 0 {
		f.Assign(i, t, now)
		return append(dst, Action{Kind: Bind, Task: t, Node: i})
	}
	c.q.push(t)
	return dst
}
