package place

// Deliver records a telemetry report from node i. Reports older than the one held are ignored.
func (f *Fleet) Deliver(i int, r Report, now float64) {
	ns := &f.nodes[i]
	if r.At < ns.rep.At {
		return
	}
	ns.rep = r
	f.refresh(i, now)
}

// Assign records that task t was bound to node i at now. For a cloud node it also books the
// upload on the shared WAN link.
func (f *Fleet) Assign(i int, t *Task, now float64) {
	ns := &f.nodes[i]
	work := t.Left()
	ns.tasks = append(ns.tasks, taskRec{
		id: t.ID, class: t.Class, work: work,
		service: work / f.Rate(i, t.Class), started: -1,
		checkpoint: t.Checkpointable,
	})
	ns.outstanding += work
	f.totalOutstanding += work
	if ns.Tier == TierCloud && f.wan.Up > 0 && f.wan.Down > 0 {
		f.wanUpFree = max(f.wanUpFree, now) + t.InBytes/f.wan.Up
		f.wanDownFree = max(f.wanDownFree, now) + t.OutBytes/f.wan.Down
	}
	f.refresh(i, now)
}

// Started records that node i began running task id at now.
func (f *Fleet) Started(i int, id uint64, now float64) {
	ns := &f.nodes[i]
	if k := ns.find(id); k >= 0 && ns.tasks[k].started < 0 {
		ns.tasks[k].started = now
		ns.running++
		f.refresh(i, now)
	}
}

// Finished records that node i completed task id at now and learns the node's rate for the
// task's class from the observed run time, normalised by the reported background load.
func (f *Fleet) Finished(i int, id uint64, now float64) {
	ns := &f.nodes[i]
	k := ns.find(id)
	if k < 0 {
		return
	}
	rec := ns.tasks[k]
	if rec.started >= 0 && now > rec.started {
		obs := rec.work / (now - rec.started) / max(0.05, 1-ns.rep.BgLoad)
		f.learn(ns, rec.class, obs)
	}
	f.drop(i, k, now)
}

// Removed forgets task id on node i without learning: it was preempted, cancelled or lost.
func (f *Fleet) Removed(i int, id uint64, now float64) {
	if k := f.nodes[i].find(id); k >= 0 {
		f.drop(i, k, now)
	}
}

// Down marks node i dead (its last will arrived) and forgets its tasks, returning their IDs
// so the caller can resubmit them. dst is reused when it has room.
func (f *Fleet) Down(i int, now float64, dst []uint64) []uint64 {
	ns := &f.nodes[i]
	for _, r := range ns.tasks {
		dst = append(dst, r.id)
	}
	ns.tasks = ns.tasks[:0]
	f.totalOutstanding = max(0, f.totalOutstanding-ns.outstanding)
	ns.running, ns.outstanding = 0, 0
	ns.down = true
	f.refresh(i, now)
	return dst
}

// Revive marks node i alive again (a fresh birth message), idle.
func (f *Fleet) Revive(i int, now float64) {
	f.nodes[i].down = false
	f.refresh(i, now)
}

func (ns *nodeState) find(id uint64) int {
	for k := range ns.tasks {
		if ns.tasks[k].id == id {
			return k
		}
	}
	return -1
}

// drop removes record k of node i, keeping assignment order.
func (f *Fleet) drop(i, k int, now float64) {
	ns := &f.nodes[i]
	if ns.tasks[k].started >= 0 {
		ns.running--
	}
	ns.outstanding = max(0, ns.outstanding-ns.tasks[k].work)
	f.totalOutstanding = max(0, f.totalOutstanding-ns.tasks[k].work)
	ns.tasks = append(ns.tasks[:k], ns.tasks[k+1:]...)
	f.refresh(i, now)
}
