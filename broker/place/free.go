package place

// DefaultNodeQueue is how many tasks beyond its slots the Tether policy may commit to a node
// by default, to wait in its agent's queue (placement.node_queue): none. The region's
// admission contract is that the scheduler assigns at most a node's free slots and keeps the
// rest pending centrally (a burst is not dumped on the agents; a node lying about its speed
// captures no more than its slots), so a queue is the operator's choice. In simulation
// (docs/scheduling.md, "Tether's node queue") a queue of 32 made Tether stable at load 0.9 on
// the mixes and farm, where holding is not (retail stays unstable, as least-work does; the
// simulator moves every queued task's input at once while it waits, the agent fetches its
// queued tasks' inputs ahead one task at a time). Holding is stable at 0.9 on the built-in
// mixes in simulation only with three changes the live scheduler does not make yet (the
// simulator's -hold-prefetch, -hold-cloud-pick and -hold-wait).
const DefaultNodeQueue = 0

// PickFree is the Tether policy's decision for a task the scheduler holds until it can place
// it: PickAll among the up nodes with room by the scheduler's own record (View.Room: a free
// slot, or fewer than queue tasks waiting for one) that t.Allow allows; NoNode when no node
// has room t fits: t then waits at the scheduler and is offered again when a node has room.
// A busy node is chosen when the cost model says t is done there sooner, waiting in its
// queue, than anywhere else with room — the cloud included, behind its WAN backlog. It is the
// simulator's "tether" (broker/sim); the live scheduler's is PickAll with the engine's own
// room check (taskengine.FitsQueued) as t.Allow, on the record the fleet mirrors
// (broker/place/live). O(1) candidate evaluations, O(nodes) for the fallback.
func PickFree(f *View, p Dispatcher, t *Task, queue int, now float64) Decision {
	allow := t.Allow
	defer func() { t.Allow = allow }()
	t.Allow = func(i int) bool { return f.Room(i, queue) > 0 && (allow == nil || allow(i)) }
	return PickAll(f, p, t, now)
}

// Room returns how many more tasks node i may be assigned by the scheduler's own record when
// queue may wait beyond its slots: its free slots plus the room left in that queue (0 when
// down).
func (f *View) Room(i, queue int) int {
	ns := &f.nodes[i]
	if ns.down {
		return 0
	}
	return max(0, ns.Cores+queue-len(ns.tasks))
}
