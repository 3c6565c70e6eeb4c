package live

import "github.com/tether-edge/tether/broker/tasks"

// Queued is a Placer that keeps a central queue at the scheduler (fifo, sjf or priority): the
// engine offers its pending tasks in the queue's order (tasks.Queue), and a task is placed
// only on a node with a free slot by the scheduler's record, the one place.SlotRule chooses
// (the simulator's rule), else it waits, pending, for a slot to free — also when waiting for
// a busy edge node, behind the work queued ahead of it, beats the free cloud slot. New
// returns one for a queue order.
type Queued struct{ *Placer }

var _ tasks.Queue = (*Queued)(nil)

// priorityAging is the waiting worth one priority level, as in broker/place's priority queue.
const priorityAging = 10.0

// Key implements tasks.Queue: the submission time (fifo); the work left (sjf); the
// submission time less the priority × 10 s (priority with aging: a task waits behind later
// arrivals at most 10 s per level of priority they have above it, so none starves).
func (q *Queued) Key(r *tasks.Request) float64 {
	switch q.def {
	case "sjf":
		return r.Work
	case "priority":
		return q.secs(r.Submitted) - float64(r.Spec.Priority)*priorityAging
	}
	return q.secs(r.Submitted)
}
