package place

import "slices"

// Deliver records a telemetry report from node i. Reports older than the one held are ignored.
func (f *View) Deliver(i int, r Report, now float64) {
	ns := &f.nodes[i]
	if r.At < ns.rep.At {
		return
	}
	ns.rep = r
	f.refresh(i, now)
}

// Assign records that task t was bound to node i at now. Data that crosses the shared WAN
// link is booked on it: for a cloud node the upload and the result's way down; for input
// coming down to an edge node from the cloud, the download and the result's way up.
func (f *View) Assign(i int, t *Task, now float64) {
	ns := &f.nodes[i]
	work := t.Left()
	ns.tasks = append(ns.tasks, taskRec{
		id: t.ID, class: t.Class, work: work,
		service: work / f.Rate(i, t.Class), started: -1,
		checkpoint: t.Checkpointable, deadline: t.Deadline > 0,
	})
	ns.outstanding += work
	f.totalOutstanding += work
	switch {
	case f.wan.Up <= 0 || f.wan.Down <= 0:
	case ns.Tier == TierCloud && crossesWAN(t, i):
		_, up, down := f.cloudPath(&ns.NodeSpec)
		f.wanUpFree = max(f.wanUpFree, now) + t.InBytes/up
		f.wanDownFree = max(f.wanDownFree, now) + t.OutBytes/down
	case f.comesDown(t, i):
		f.wanDownFree = max(f.wanDownFree, now) + t.InBytes/f.wan.Down
		f.wanUpFree = max(f.wanUpFree, now) + t.OutBytes/f.wan.Up
	}
	f.refresh(i, now)
}

// Started records that node i began running task id at now.
func (f *View) Started(i int, id uint64, now float64) {
	ns := &f.nodes[i]
	if k := ns.find(id); k >= 0 && ns.tasks[k].started < 0 {
		ns.tasks[k].started = now
		ns.running++
		f.refresh(i, now)
	}
}

// Finished records that node i completed task id at now and learns the node's rate for the
// task's class from the observed run time, normalised by the reported background load.
func (f *View) Finished(i int, id uint64, now float64) {
	ns := &f.nodes[i]
	k := ns.find(id)
	if k < 0 {
		return
	}
	rec := ns.tasks[k]
	if rec.started >= 0 && now > rec.started {
		f.learn(ns, rec.class, rec.work/(now-rec.started)/max(minShare, 1-ns.rep.BgLoad))
	}
	f.drop(i, k, now)
}

// Completed is Finished for a task whose node measured its run itself: it did work units in
// ran seconds (work ≤ 0: the work recorded at assignment). The live scheduler learns from the
// node's measurement rather than from when the start and end events reached it, which a
// delayed or backed-up link stretches and shrinks. Without a measurement (ran ≤ 0) it is
// Finished.
func (f *View) Completed(i int, id uint64, work, ran, now float64) {
	if ran <= 0 {
		f.Finished(i, id, now)
		return
	}
	ns := &f.nodes[i]
	k := ns.find(id)
	if k < 0 {
		return
	}
	if work <= 0 {
		work = ns.tasks[k].work
	}
	f.learn(ns, ns.tasks[k].class, work/ran/max(minShare, 1-ns.rep.BgLoad))
	f.drop(i, k, now)
}

// Removed forgets task id on node i without learning: it was preempted, cancelled or lost.
func (f *View) Removed(i int, id uint64, now float64) {
	if k := f.nodes[i].find(id); k >= 0 {
		f.drop(i, k, now)
	}
}

// Down marks node i dead (its last will arrived) and forgets its tasks, returning their IDs
// so the caller can resubmit them. dst is reused when it has room.
func (f *View) Down(i int, now float64, dst []uint64) []uint64 {
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

// Offline marks node i unavailable for new tasks but, unlike Down, keeps the scheduler's
// record of its tasks: the live scheduler's node that went offline and may come back within
// its grace, still running them. Finished, Completed and Removed apply meanwhile.
func (f *View) Offline(i int, now float64) {
	f.nodes[i].down = true
	f.refresh(i, now)
}

// Revive marks node i alive again (a fresh birth message): idle after Down, with the tasks it
// kept after Offline.
func (f *View) Revive(i int, now float64) {
	f.nodes[i].down = false
	f.refresh(i, now)
}

// Redeclare replaces node i's declared description (its facts changed: a new configuration,
// other hardware) and keeps its record, telemetry and learned per-class rates. A new declared
// speed resets the factor learned against the old one; a new tier moves the node between Edge
// and Cloud. O(n) for a change of tier, else O(log n).
func (f *View) Redeclare(i int, n NodeSpec, now float64) {
	ns := &f.nodes[i]
	if n.Speed != ns.Speed {
		ns.factor = 1
	}
	if n.Tier != ns.Tier {
		from, to := &f.edge, &f.cloud
		if ns.Tier == TierCloud {
			from, to = to, from
		}
		if k, ok := slices.BinarySearch(*from, i); ok {
			*from = slices.Delete(*from, k, k+1)
		}
		k, _ := slices.BinarySearch(*to, i)
		*to = slices.Insert(*to, k, i)
		f.free.remove(i)
		f.busy.remove(i)
	}
	ns.NodeSpec = n
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
func (f *View) drop(i, k int, now float64) {
	ns := &f.nodes[i]
	if ns.tasks[k].started >= 0 {
		ns.running--
	}
	ns.outstanding = max(0, ns.outstanding-ns.tasks[k].work)
	f.totalOutstanding = max(0, f.totalOutstanding-ns.tasks[k].work)
	ns.tasks = append(ns.tasks[:k], ns.tasks[k+1:]...)
	f.refresh(i, now)
}
