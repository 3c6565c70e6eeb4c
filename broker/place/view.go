package place

// View is the scheduler's view of its nodes. Node indices are dense, assigned by AddNode in
// order, and never reused.
//
// The View knows exactly what the scheduler did (Assign, Started, Finished, Removed), learns
// node speed per task class from completions, and stores the latest telemetry (Deliver), which
// may be stale. Every event updates the per-node projection and the incremental indexes in
// O(log n + tasks on that node).
type View struct {
	nodes []nodeState
	wan   Link
	// wanUpFree is when, by the scheduler's own bookkeeping, the WAN uplink finishes the
	// uploads it has already started; cloud uploads queue behind it.
	wanUpFree   float64
	wanDownFree float64 // likewise for results coming back

	edge, cloud []int // node indices by tier

	capW fenwick  // declared capacity of up nodes (weighted random)
	free nodeHeap // up edge nodes with a free slot, key −(node rate): fastest first
	busy nodeHeap // up edge nodes without, key projected slot-free time + 1/rate

	alpha float64 // EWMA weight of a new rate observation

	totalOutstanding float64 // sum of outstanding over nodes (EDF admission)
}

// nodeState is one node as the View sees it.
type nodeState struct {
	NodeSpec
	rep  Report
	down bool

	tasks       []taskRec // assigned and not finished, in assignment order
	running     int       // tasks in tasks with started ≥ 0
	outstanding float64   // work units assigned and not finished
	projFree    float64   // projected absolute time a slot frees for a new task
	projAt      float64   // when projFree was computed

	// Learned normalised rate (per core, as if background load were zero) per task class,
	// and a node factor (observed ÷ declared) for classes not yet seen.
	rate   [MaxClasses]float64
	seen   [MaxClasses]bool
	factor float64
	// dev is the mean absolute deviation of the observed rates from rate, per class (same
	// units): how far one run strays from the estimate (RateQuantile).
	dev [MaxClasses]float64
}

// taskRec is the scheduler's record of one assignment.
type taskRec struct {
	id      uint64
	class   int
	work    float64 // work units to do (Left at assignment)
	service float64 // estimated seconds on one slot, at assignment
	started float64 // start time, or −1 while queued at the node
	// checkpoint: the task may be preempted and resumed (SRTF, TetherVictim).
	checkpoint bool
	deadline   bool // the task has a deadline: never a TetherVictim
}

// FleetOptions tune the learner; the zero value is usable.
type ViewOptions struct {
	// Alpha is the EWMA weight of a new rate observation; default 0.3, which forgets a
	// throttling episode's effect after about five completions.
	Alpha float64
}

// NewFleet returns an empty fleet whose cloud tier is reached over wan.
func NewView(wan Link, opt ViewOptions) *View {
	if opt.Alpha <= 0 || opt.Alpha > 1 {
		opt.Alpha = 0.3
	}
	return &View{wan: wan, alpha: opt.Alpha}
}

// AddNode adds a node, up and idle, and returns its index.
func (f *View) AddNode(n NodeSpec) int {
	i := len(f.nodes)
	f.nodes = append(f.nodes, nodeState{NodeSpec: n, factor: 1})
	if n.Tier == TierCloud {
		f.cloud = append(f.cloud, i)
	} else {
		f.edge = append(f.edge, i)
	}
	f.capW.grow(i + 1)
	f.free.grow(i + 1)
	f.busy.grow(i + 1)
	f.refresh(i, 0)
	return i
}

// Len returns the number of nodes ever added.
func (f *View) Len() int { return len(f.nodes) }

// Node returns node i's declared description.
func (f *View) Node(i int) *NodeSpec { return &f.nodes[i].NodeSpec }

// WAN returns the site's WAN link.
func (f *View) WAN() Link { return f.wan }

// SetWAN changes the WAN link, as measured: estimates from now on use it;
// the uploads and results already queued on it keep the times they were
// given.
func (f *View) SetWAN(wan Link) { f.wan = wan }

// Edge and Cloud return the node indices of each tier; callers must not modify them.
func (f *View) Edge() []int  { return f.edge }
func (f *View) Cloud() []int { return f.cloud }

// Up reports whether node i is believed alive.
func (f *View) Up(i int) bool { return !f.nodes[i].down }

// Reported returns node i's latest delivered telemetry.
func (f *View) Reported(i int) Report { return f.nodes[i].rep }

// Assigned returns the number of tasks the scheduler has on node i (queued or running).
func (f *View) Assigned(i int) int { return len(f.nodes[i].tasks) }

// FreeSlots returns node i's idle slots by the scheduler's own record (0 when down).
func (f *View) FreeSlots(i int) int {
	ns := &f.nodes[i]
	if ns.down {
		return 0
	}
	return max(0, ns.Cores-len(ns.tasks))
}

// HasFreeSlot reports whether some up node has a free slot by the scheduler's own record.
// O(cloud nodes).
func (f *View) HasFreeSlot() bool {
	if f.free.len() > 0 {
		return true
	}
	for _, i := range f.cloud {
		if f.FreeSlots(i) > 0 {
			return true
		}
	}
	return false
}

// Outstanding returns the work units assigned to node i and not finished.
func (f *View) Outstanding(i int) float64 { return f.nodes[i].outstanding }

// usable reports whether node i is up and satisfies t's constraints.
func (f *View) usable(i int, t *Task) bool {
	ns := &f.nodes[i]
	return !ns.down && fits(&ns.NodeSpec, t) && (t.Allow == nil || t.Allow(i))
}

// EdgeCapacity returns the declared capacity of the up edge nodes, work units per second.
// O(cloud nodes).
func (f *View) EdgeCapacity() float64 {
	c := f.capW.total()
	for _, i := range f.cloud {
		if !f.nodes[i].down {
			c -= f.nodes[i].Capacity()
		}
	}
	return max(c, 0)
}
