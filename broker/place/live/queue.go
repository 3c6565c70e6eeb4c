package live

import (
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tether-edge/tether/broker/place"
	"github.com/tether-edge/tether/broker/taskengine"
)

// Queued is a Placer that keeps a central queue at the scheduler (fifo, sjf, srtf, edf or
// priority): the engine offers its pending tasks in the queue's order (taskengine.Queue), and a
// task is placed only on a node with a free slot by the scheduler's record, the one
// place.SlotRule chooses (the simulator's rule), else it waits, pending, for a slot to free —
// also when waiting for a busy edge node, behind the work queued ahead of it, beats the free
// cloud slot. srtf also preempts (Victim), edf also refuses at submission (Admit). New
// returns one for a queue order.
type Queued struct{ *Placer }

var (
	_ taskengine.Queue         = (*Queued)(nil)
	_ taskengine.Admitter      = (*Queued)(nil)
	_ taskengine.WaitPreempter = (*Queued)(nil)
)

// priorityAging is the waiting worth one priority level, as in broker/place's priority queue.
const priorityAging = 10.0

// noDeadline is the edf key of a task without a deadline, less its submission time: above
// every deadline (at most 366 days after a submission, and the fleet's clock counts seconds
// since the scheduler started), so such tasks run after every task with one, among
// themselves in submission order — the simulator's order (its key +∞, ties by arrival). Its
// float64 step is 0.1 ms.
const noDeadline = 1e12

// Key implements taskengine.Queue: the submission time (fifo); the work left (sjf, srtf); the
// absolute deadline (edf; noDeadline plus the submission time without one); the submission
// time less the priority × 10 s (priority with aging: a task waits behind later arrivals at
// most 10 s per level of priority they have above it, so none starves). Equal keys go by
// priority, then submission (the engine's rule; the simulator's, by arrival).
func (q *Queued) Key(r *taskengine.Request) float64 {
	switch q.def {
	case "sjf", "srtf":
		return r.Work
	case "edf":
		if d := r.Spec.Deadline.D(); d > 0 {
			return q.secs(r.Submitted.Add(d))
		}
		return noDeadline + q.secs(r.Submitted)
	case "priority":
		return q.secs(r.Submitted) - float64(r.Spec.Priority)*priorityAging
	}
	return q.secs(r.Submitted)
}

// PreemptsWaiting implements taskengine.WaitPreempter: srtf preempts for any task that would wait.
func (q *Queued) PreemptsWaiting() bool { return q.def == "srtf" }

// Admit implements taskengine.Admitter: edf's admission test (place.AdmitEDF, the simulator's), on
// the fleet's record of the work placed and the pending tasks' work left. Other queues admit
// every task. O(pending log pending) for a deadline task under edf.
func (q *Queued) Admit(r *taskengine.Request, pending iter.Seq[*taskengine.Request]) error {
	if q.def != "edf" || r.Spec.Deadline.D() <= 0 {
		return nil
	}
	var rs []*taskengine.Request
	for x := range pending {
		rs = append(rs, x)
	}
	// IDs in submission order, the new task last: the simulator's tie-break.
	slices.SortFunc(rs, func(a, b *taskengine.Request) int {
		if c := a.Submitted.Compare(b.Submitted); c != 0 {
			return c
		}
		return strings.Compare(a.Task, b.Task)
	})
	queued := make([]*place.Task, len(rs))
	for k, x := range rs {
		queued[k] = &place.Task{}
		q.task(queued[k], x)
		queued[k].ID = uint64(k + 1)
	}
	slices.SortFunc(queued, func(a, b *place.Task) int {
		switch {
		case a == b:
			return 0
		case place.EDFBefore(a, b):
			return -1
		}
		return 1
	})
	var t place.Task
	q.task(&t, r)
	t.ID = uint64(len(rs) + 1)
	now := q.secs(r.Submitted)
	a := place.AdmitEDF(q.fleet, &t, queued, now)
	if a.OK {
		return nil
	}
	due := r.Spec.Deadline.D()
	switch {
	case math.IsInf(a.Done, 1):
		return fmt.Errorf("spec.deadline %v cannot be met: no node is online to run it (edf admission)", due)
	case a.Late != nil:
		return fmt.Errorf("spec.deadline %v: admitting the task would make pending task %s miss its own deadline (edf admission)",
			due, rs[a.Late.ID-1].Task)
	}
	return fmt.Errorf("spec.deadline %v cannot be met: with the work already placed and queued before it, the fleet's declared capacity (%.3g work units/s) finishes it about %v after submission (edf admission)",
		due, q.capacity(), time.Duration((a.Done-now)*float64(time.Second)).Round(time.Millisecond))
}

// capacity is the declared capacity of the fleet's up nodes, work units per second: the pool
// AdmitEDF tests against.
func (q *Queued) capacity() float64 {
	c := 0.0
	for i := range q.decl {
		if q.fleet.Up(i) {
			c += q.decl[i].Capacity()
		}
	}
	return c
}
