package place

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
}

// Central keeps one queue at the scheduler and binds a task only when a node has a free slot,
// to the next node whose slot freed (a FIFO of freed slots). It records every binding in the
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
	slots []int // nodes whose slot freed, oldest first; an entry is checked before use
}

// NewCentral returns a central policy with the given order and name.
func NewCentral(name string, order Order, opt CentralOptions) *Central {
	if opt.Aging <= 0 {
		opt.Aging = 10
	}
	return &Central{name: name, q: queue{order: order, aging: opt.Aging}}
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

// SlotFreed offers one freed slot of node i: the first queued task that fits is bound to it;
// if none fits, the slot waits for a later arrival.
func (c *Central) SlotFreed(f *Fleet, i int, now float64, dst []Action) []Action {
	if f.FreeSlots(i) <= 0 {
		return dst
	}
	if k := c.q.firstFit(func(t *Task) bool { return f.usable(i, t) }); k >= 0 {
		t := c.q.items[k]
		c.q.removeAt(k)
		f.Assign(i, t, now)
		return append(dst, Action{Kind: Bind, Task: t, Node: i})
	}
	c.slots = append(c.slots, i)
	return dst
}

// Submit accepts a new task: bind it to a free slot, preempt for it (SRTF), queue it, or
// reject it (EDF admission).
func (c *Central) Submit(f *Fleet, t *Task, now float64, dst []Action) []Action {
	if c.q.order == OrderEDF && !c.admit(f, t, now) {
		return append(dst, Action{Kind: Reject, Task: t, Node: -1})
	}
	if i := c.takeSlot(f, t); i >= 0 {
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
	if i := c.takeSlot(f, t); i >= 0 {
		f.Assign(i, t, now)
		return append(dst, Action{Kind: Bind, Task: t, Node: i})
	}
	c.q.push(t)
	return dst
}

// takeSlot removes and returns the oldest offered slot that still exists and fits t, or -1.
// Offers whose node is down or full are dropped on the way.
func (c *Central) takeSlot(f *Fleet, t *Task) int {
	w := 0
	found := -1
	for _, i := range c.slots {
		switch {
		case found >= 0:
			c.slots[w] = i
			w++
		case f.FreeSlots(i) <= 0:
			// stale offer: dropped
		case f.usable(i, t):
			found = i
		default:
			c.slots[w] = i
			w++
		}
	}
	c.slots = c.slots[:w]
	return found
}
