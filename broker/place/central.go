package place

import "math/rand/v2"

// ActionKind says what a central policy wants done.
type ActionKind uint8

const (
	// Bind: start Task on Node (already recorded in the Fleet).
	Bind ActionKind = iota
	// Preempt: checkpoint task TaskID on Node and hand it back with Requeue; its record is
	// already removed from the Fleet.
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
// to the free slot the cost model chooses (SlotRule): the rule the live scheduler's queues use,
// so a queue order named here is the one a scheduler runs. It records every binding in the
// Fleet itself (Fleet.Assign); the caller reports Started, Finished and Removed as usual and
// calls SlotFreed after each Finished or Removed, and NodeUp for a node that (re)joins.
//
// SRTF additionally preempts, on arrival with no free slot, the checkpointable running task
// with the most estimated remaining work if that exceeds the new task's work. EDF admits a task
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

// SlotRule chooses the node with a free slot for t: the Tether rule (earliest estimated
// completion that meets the deadline, over its bounded candidate set) and, when that set held
// no free slot t fits, the same rule over every node. It returns -1 when no free slot fits.
// The live scheduler's queues decide the same way (broker/liveplace).
func SlotRule(f *Fleet, p Dispatcher, t *Task, now float64) int {
	allow := t.Allow
	t.Allow = func(i int) bool { return f.FreeSlots(i) > 0 && (allow == nil || allow(i)) }
	defer func() { t.Allow = allow }()
	d := p.Pick(f, t, now)
	if d.Node < 0 {
		d = NewOracle(f).Pick(f, t, now)
	}
	return d.Node
}

func (c *Central) Name() string { return c.name }

// Len returns the number of tasks waiting in the central queue.
func (c *Central) Len() int { return len(c.q.items) }

// NodeUp offers every free slot of node i and binds queued tasks to them.
func (c *Central) NodeUp(f *Fleet, i int, now float64, dst []Action) []Action {
	for k := f.FreeSlots(i); k > 0; k-- {
		dst = c.SlotFreed(f, i, now, dst)
	}
	return dst
}

// SlotFreed offers the free slots of node i: the first queued task that fits node i is bound
// to the free slot SlotRule chooses for it (node i's or a better one), and so on while node i
// has a free slot and a queued task fits it; a slot nothing fits stays free for a later
// arrival.
func (c *Central) SlotFreed(f *Fleet, i int, now float64, dst []Action) []Action {
	for f.FreeSlots(i) > 0 {
		k := c.q.firstFit(func(t *Task) bool { return f.usable(i, t) })
		if k < 0 {
			return dst
		}
		t := c.q.items[k]
		j := SlotRule(f, c.slots, t, now)
		if j < 0 {
			j = i // cannot happen: node i has a free slot t fits
		}
		c.q.removeAt(k)
		f.Assign(j, t, now)
		dst = append(dst, Action{Kind: Bind, Task: t, Node: j})
	}
	return dst
}

// Submit accepts a new task: bind it to a free slot, preempt for it (SRTF), queue it, or
// reject it (EDF admission).
func (c *Central) Submit(f *Fleet, t *Task, now float64, dst []Action) []Action {
	if c.q.order == OrderEDF && !c.admit(f, t, now) {
		return append(dst, Action{Kind: Reject, Task: t, Node: -1})
	}
	if i := SlotRule(f, c.slots, t, now); i >= 0 {
		f.Assign(i, t, now)
		return append(dst, Action{Kind: Bind, Task: t, Node: i})
	}
	if c.q.order == OrderSRTF {
		if i, id, ok := c.victim(f, t, now); ok {
			f.Removed(i, id, now)
			f.Assign(i, t, now)
			return append(dst, Action{Kind: Preempt, TaskID: id, Node: i},
				Action{Kind: Bind, Task: t, Node: i})
		}
	}
	c.q.push(t)
	return dst
}

// Requeue puts back a preempted task (with Remaining set) without admission control.
func (c *Central) Requeue(f *Fleet, t *Task, now float64, dst []Action) []Action {
	if i := SlotRule(f, c.slots, t, now); i >= 0 {
		f.Assign(i, t, now)
		return append(dst, Action{Kind: Bind, Task: t, Node: i})
	}
	c.q.push(t)
	return dst
}
