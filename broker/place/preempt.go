package place

// Victim is a running task the Tether preemption rule chose to yield (TetherVictim).
type Victim struct {
	Node int
	ID   uint64
	// Left is its estimated work left: work at assignment less run time × learned rate.
	Left float64
}

// TetherVictim is the Tether policy's preemption rule, the one the live scheduler
// (place/live's Victim) and the simulator's "tether" both apply: for deadline task t that no
// placement gets done in time, the running task to take back so that it is. The victim
// runs a checkpointable task without a deadline (it resumes from its checkpoint and no
// deadline of its is put at risk), on an up edge node that t's tiers allow and fits(i)
// accepts (t may run there once a slot frees; nil: t's memory fits the node's), where
// nothing else assigned waits to start (the freed slot would go to what the node queued
// first), and where t, given the slot now, is done by its deadline on RateQuantile's rate
// (about the 90th percentile of the run time): transfer in behind the WAN backlog, compute,
// result back. Among several, the one with the most work left yields: it loses the least in
// proportion; ties go to the lower task ID. ok is false for a task without a deadline.
// O(tasks assigned on the edge).
func TetherVictim(f *View, t *Task, now float64, fits func(i int) bool) (v Victim, ok bool) {
	if t.Deadline <= 0 || !t.Tiers.Allows(TierEdge) {
		return Victim{}, false
	}
	v.Left = -1
	for _, i := range f.edge {
		ns := &f.nodes[i]
		if ns.down || ns.running == 0 || ns.running < len(ns.tasks) {
			continue // no task running, or one waiting to start
		}
		if fits != nil && !fits(i) || fits == nil && t.MemBytes > ns.MemBytes {
			continue
		}
		in, out := Transfer(f, i, t, Waits(f, now))
		if now+in+t.Left()/f.RateQuantile(i, t.Class)+out > t.Deadline {
			continue
		}
		for _, r := range ns.tasks {
			if !r.checkpoint || r.deadline {
				continue
			}
			left := r.work - (now-r.started)*f.Rate(i, r.class)
			if left > v.Left || left == v.Left && r.id < v.ID {
				v, ok = Victim{Node: i, ID: r.id, Left: left}, true
			}
		}
	}
	return v, ok
}
