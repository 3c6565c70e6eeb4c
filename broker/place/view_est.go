package place

// minShare bounds the CPU share a node is assumed to give a task, so that a report of 100 %
// background load slows estimates down twentyfold instead of dividing by zero.
const minShare = 0.05

// learn folds an observed normalised rate (work units per second per core, background load
// removed) into the node's estimate for class c and into its class-independent factor.
func (f *View) learn(ns *nodeState, c int, obs float64) {
	if c < 0 || c >= MaxClasses || obs <= 0 {
		return
	}
	if ns.seen[c] {
		ns.dev[c] += f.alpha * (abs(obs-ns.rate[c]) - ns.dev[c])
		ns.rate[c] += f.alpha * (obs - ns.rate[c])
	} else {
		ns.rate[c], ns.seen[c] = obs, true
		ns.dev[c] = priorSpread * obs
	}
	if ns.Speed > 0 {
		ns.factor += f.alpha * (obs/ns.Speed - ns.factor)
	}
}

// Rate returns the learned rate of one core of node i for class c, in work units per second,
// corrected by the node's latest reported background load. Before any completion of class c
// it is the declared speed scaled by the factor learned from other classes.
func (f *View) Rate(i, c int) float64 {
	ns := &f.nodes[i]
	r := ns.factor * ns.Speed
	if c >= 0 && c < MaxClasses && ns.seen[c] {
		r = ns.rate[c]
	}
	return max(r, 1e-6) * max(minShare, 1-ns.rep.BgLoad)
}

// priorSpread is the relative deviation a class's rate is given on a node before its runs
// there show their own: one run in a quarter off the mean.
const priorSpread = 0.25

// madToQuantile turns a mean absolute deviation into the distance from the mean to a high
// quantile: for a normal spread σ = 1.25 × MAD, and the 90th percentile is 1.28 σ above
// the mean.
const madToQuantile = 1.6

// RateQuantile is Rate on the slow side of what a run of class c on node i has shown: the
// rate a run meets nine times in ten (if its spread were normal), from the mean absolute
// deviation of the observed rates — planning a deadline on it is planning on the 90th
// percentile of the run time, not the mean. Before a run of c there, the spread is taken as
// a quarter of the rate. Never below a quarter of Rate. Nothing in the placement policies
// uses it: the deadline machinery (estimates, preemption) does.
func (f *View) RateQuantile(i, c int) float64 {
	ns := &f.nodes[i]
	r := f.Rate(i, c)
	spread := priorSpread
	if c >= 0 && c < MaxClasses && ns.seen[c] && ns.rate[c] > 0 {
		spread = ns.dev[c] / ns.rate[c]
	}
	return max(r*(1-madToQuantile*spread), r/4)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// StartAt returns the earliest time, by the scheduler's record, that node i has a slot for a
// newly assigned task.
func (f *View) StartAt(i int, now float64) float64 {
	ns := &f.nodes[i]
	if len(ns.tasks) < ns.Cores {
		return now
	}
	return max(now, ns.projFree)
}

// WANUpFreeAt returns when the WAN uplink finishes the uploads already booked.
func (f *View) WANUpFreeAt(now float64) float64 { return max(now, f.wanUpFree) }

// WANDownFreeAt returns when the WAN downlink finishes the results already booked. Results
// are booked at assignment, as if due at once: a pessimistic, O(1) estimate.
func (f *View) WANDownFreeAt(now float64) float64 { return max(now, f.wanDownFree) }

// nodeRate is node i's class-independent rate per core, used to rank nodes in the indexes.
// Nodes reporting a health flag rank as if half as fast.
func (f *View) nodeRate(i int) float64 {
	ns := &f.nodes[i]
	r := max(ns.factor*ns.Speed, 1e-6) * max(minShare, 1-ns.rep.BgLoad)
	if ns.rep.Health != 0 {
		r /= 2
	}
	return r
}

// refresh recomputes node i's projection and its place in the indexes after any event.
// Cost: O(log n) for the indexes plus O(tasks × cores) for the projection.
func (f *View) refresh(i int, now float64) {
	ns := &f.nodes[i]
	if ns.down {
		f.capW.set(i, 0)
		f.free.remove(i)
		f.busy.remove(i)
		return
	}
	f.capW.set(i, ns.Capacity())
	ns.projFree, ns.projAt = now, now
	if len(ns.tasks) >= ns.Cores {
		ns.projFree = now + f.project(ns, now)
	}
	if ns.Tier != TierEdge {
		return
	}
	r := f.nodeRate(i)
	if len(ns.tasks) < ns.Cores {
		f.busy.remove(i)
		f.free.set(i, -r)
	} else {
		f.free.remove(i)
		f.busy.set(i, ns.projFree+1/r)
	}
}

// project returns, relative to now, when the first slot frees after every recorded task of
// the node has been given a slot in FIFO order. A running task that overran its estimate is
// assumed to need a tenth of it more.
func (f *View) project(ns *nodeState, now float64) float64 {
	c := ns.Cores
	var stack [8]float64
	slots := stack[:0]
	if c > len(stack) {
		slots = make([]float64, 0, c)
	}
	slots = slots[:c]
	for k := range slots {
		slots[k] = 0
	}
	next := 0
	for _, r := range ns.tasks {
		if r.started >= 0 && next < c {
			slots[next] = max(r.service-(now-r.started), r.service/10)
			next++
		}
	}
	for _, r := range ns.tasks {
		if r.started >= 0 {
			continue
		}
		m := 0
		for k := 1; k < c; k++ {
			if slots[k] < slots[m] {
				m = k
			}
		}
		slots[m] += r.service
	}
	m := slots[0]
	for _, s := range slots[1:] {
		m = min(m, s)
	}
	return m
}
