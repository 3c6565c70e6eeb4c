package place

// PickFree is the Tether policy's decision for a task the scheduler holds until it can place
// it: PickAll among the up nodes with a free slot by the scheduler's own record
// (View.FreeSlots) that t.Allow allows; NoNode when no node has a free slot t fits: t then
// waits at the scheduler and is offered again when a slot frees. A task is never bound to a
// busy node to wait in its queue. It is the simulator's "tether" (broker/sim); the live
// scheduler's is PickAll with the engine's own free-slot check (tasks.Fits) as t.Allow, on
// the record the fleet mirrors (broker/place/live). O(1) candidate evaluations, O(nodes) for
// the fallback.
func PickFree(f *View, p Dispatcher, t *Task, now float64) Decision {
	allow := t.Allow
	defer func() { t.Allow = allow }()
	t.Allow = func(i int) bool { return f.FreeSlots(i) > 0 && (allow == nil || allow(i)) }
	return PickAll(f, p, t, now)
}
