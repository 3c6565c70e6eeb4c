package place

import "math"

// victim is SRTFVictim for the central policy.
func (c *Central) victim(f *View, t *Task, now float64) (node int, id uint64, ok bool) {
	return SRTFVictim(f, t, now)
}

// SRTFVictim is SRTF's preemption rule, the simulator's and the live scheduler's: the running
// checkpointable task with the most estimated remaining work on an up node that fits t (and
// that t.Allow, when set, allows), if that remaining work exceeds t's. Remaining work is
// estimated from the scheduler's record: work at binding minus the time run times the learned
// rate. Among equals the first in node order, then assignment order, yields. O(running tasks).
func SRTFVictim(f *View, t *Task, now float64) (node int, id uint64, ok bool) {
	bestRem := t.Left()
	for i := range f.nodes {
		ns := &f.nodes[i]
		if ns.down || !fits(&ns.NodeSpec, t) || (t.Allow != nil && !t.Allow(i)) {
			continue
		}
		for _, r := range ns.tasks {
			if r.started < 0 || !r.checkpoint {
				continue
			}
			rem := r.work - (now-r.started)*f.Rate(i, r.class)
			if rem > bestRem {
				node, id, bestRem, ok = i, r.id, rem, true
			}
		}
	}
	return node, id, ok
}

// PreemptBeats reports whether t, started on node v in place of the task SRTF preempts there,
// would be back sooner (meeting its deadline first) than on the free cloud slot of node
// cloud: SRTF keeps the short task at the edge when a long one there can yield, rather than
// send it behind the WAN.
func PreemptBeats(f *View, t *Task, v, cloud int, now float64) bool {
	in, out := Transfer(f, v, t, WANWaits{})
	there := now + in + t.Left()/f.Rate(v, t.Class) + out
	return waitBeats(t, there, Completion(f, f, cloud, t, now))
}

// admit is AdmitEDF on the central queue.
func (c *Central) admit(f *View, t *Task, now float64) bool {
	return AdmitEDF(f, t, c.q.items, now).OK
}

// EDFAdmission is AdmitEDF's verdict.
type EDFAdmission struct {
	OK bool
	// Done is when the pool finishes t by the test (+Inf without capacity; 0 for a task
	// without a deadline, which is not tested).
	Done float64
	// Late is the queued task t would newly make late, when that refuses it.
	Late *Task
}

// AdmitEDF is EDF's admission test, the simulator's and the live scheduler's, on the fleet as
// one pool of its declared up capacity C: with W the work outstanding on nodes, the new task
// t must satisfy now + (W + queued work due by t's deadline + t's work)/C ≤ deadline, and
// every queued task due after t must still satisfy the same test with t's work added.
// queued are the tasks waiting at the scheduler, in EDF order (EDFBefore). Tasks without a
// deadline are always admitted. O(queue length).
func AdmitEDF(f *View, t *Task, queued []*Task, now float64) EDFAdmission {
	if t.Deadline <= 0 {
		return EDFAdmission{OK: true}
	}
	capacity := f.capW.total()
	if capacity <= 0 {
		return EDFAdmission{Done: math.Inf(1)}
	}
	q := queue{order: OrderEDF}
	w := f.totalOutstanding
	var a EDFAdmission
	added := false
	for _, x := range queued {
		if !added && q.less(t, x) {
			w += t.Left()
			added = true
			if a.Done = now + w/capacity; a.Done > t.Deadline {
				return a
			}
		}
		w += x.Left()
		// Only a task that t would newly make late counts: one already late stays queued
		// and must not block every later admission.
		if added && x.Deadline > 0 && now+w/capacity > x.Deadline &&
			now+(w-t.Left())/capacity <= x.Deadline {
			a.Late = x
			return a
		}
	}
	if !added {
		w += t.Left()
		a.Done = now + w/capacity
	}
	a.OK = a.Done <= t.Deadline
	return a
}

// EDFBefore reports whether a runs before b in an EDF queue: the earlier deadline (none is
// latest), then the earlier arrival, then the lower ID.
func EDFBefore(a, b *Task) bool {
	q := queue{order: OrderEDF}
	return q.less(a, b)
}
