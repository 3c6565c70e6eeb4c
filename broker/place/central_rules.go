package place

// victim returns the running checkpointable task with the most estimated remaining work on a
// node that fits t, if that remaining work exceeds t's (SRTF). Remaining work is estimated
// from the scheduler's record: work at binding minus the time run times the learned rate.
// O(running tasks).
func (c *Central) victim(f *View, t *Task, now float64) (node int, id uint64, ok bool) {
	bestRem := t.Left()
	for i := range f.nodes {
		ns := &f.nodes[i]
		if ns.down || !fits(&ns.Node, t) {
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

// admit is EDF's admission test on the fleet as one pool of its declared up capacity C:
// with W the work outstanding on nodes, the new task t must satisfy
// now + (W + queued work due by t's deadline + t's work)/C ≤ deadline, and every queued task
// due after t must still satisfy the same test with t's work added. Tasks without a deadline
// are always admitted. O(queue length).
func (c *Central) admit(f *View, t *Task, now float64) bool {
	if t.Deadline <= 0 {
		return true
	}
	capacity := f.capW.total()
	if capacity <= 0 {
		return false
	}
	w := f.totalOutstanding
	added := false
	for _, q := range c.q.items {
		if !added && c.q.less(t, q) {
			w += t.Left()
			added = true
			if now+w/capacity > t.Deadline {
				return false
			}
		}
		w += q.Left()
		// Only a task that t would newly make late counts: one already late stays queued
		// and must not block every later admission.
		if added && q.Deadline > 0 && now+w/capacity > q.Deadline &&
			now+(w-t.Left())/capacity <= q.Deadline {
			return false
		}
	}
	if !added {
		w += t.Left()
		return now+w/capacity <= t.Deadline
	}
	return true
}
