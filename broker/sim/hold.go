package sim

import (
	"math"
	"slices"
	"sort"

	"github.com/tether-edge/tether/broker/place"
)

// The simulator's "tether" places as the live scheduler's does (broker/taskengine' engine with
// broker/place/live's Placer): a task goes only to a node with room by the scheduler's record
// — a free slot, or fewer than Config.NodeQueue tasks waiting in its queue (place.PickFree,
// the live placement.node_queue) — and one no node has room for waits at the scheduler,
// pending. The engine's rules, each mirrored here:
//
//   - a submission is placed at once if it can be (offer), else it is held;
//   - held tasks are offered again in a pass (pass) after every event that may let one be
//     placed — a task left a node (its finish reached the scheduler, or it was preempted), a
//     node came back, a crash was detected — and, with Preempt, every tick (tickEvery) while a
//     deadline task is held, since whether preempting makes room for it changes as the
//     running tasks progress;
//   - a pass offers them by priority (higher first), then arrival, then ID; it stops when the
//     room the nodes have at its start is taken, skips a task of a shape (tiers, memory) no
//     node took earlier in the pass, and stops after maxMisses shapes; with no room anywhere
//     it offers only deadline tasks, for preemption;
//   - a deadline task the choice would not get done in time (or that found no slot) first
//     takes a victim's slot (place.TetherVictim, preemptFor), at most maxVictimSearches times
//     a pass or a submission, and is placed again; the victim is held, for the next pass.

// tickEvery is the engine's tick (broker/taskengine' Service).
const tickEvery = 0.5

// maxMisses and maxVictimSearches are the engine's bounds on a pass (broker/taskengine).
const (
	maxMisses         = 64
	maxVictimSearches = 8
)

// holds reports whether the policy holds tasks at the scheduler the live tether's way.
func (w *world) holds() bool { return w.cell.Policy == "tether" }

// offer places a new or resubmitted task at once, as the engine does a submission, or holds it.
func (w *world) offer(j *job) {
	searches := maxVictimSearches
	if !w.placeHeld(j, &searches) {
		w.hold(j)
	}
	w.settle()
}

// requeue holds j for the next pass, as the engine re-queues a task whose node was lost.
func (w *world) requeue(j *job) {
	w.back = append(w.back, j)
	w.passDue = true
}

// settle runs passes while one is due, then schedules the next tick if a deadline task is
// held and Preempt is on.
func (w *world) settle() {
	for w.passDue {
		w.pass()
	}
	if w.cfg.HoldPrefetch {
		w.prefetch()
	}
	if w.cfg.Preempt && w.heldDue > 0 && w.tickAt <= w.now {
		w.tickAt = (math.Floor(w.now/tickEvery) + 1) * tickEvery
		w.push(event{at: w.tickAt, kind: evTick})
	}
}

// onTick is the engine's tick: a pass when a deadline task is held.
func (w *world) onTick() {
	if w.heldDue > 0 {
		w.passDue = true
	}
	w.settle()
}

// slotChanged: a slot freed or a node came or went: a pass is due.
func (w *world) slotChanged() {
	if w.holds() {
		w.passDue = true
		w.settle()
	}
}

// shape is what decides where a held task fits (the engine's shape: tier, memory).
type shape struct {
	tiers place.TierMask
	mem   int64
}

// pass offers the held tasks in the engine's order (see the top of this file).
func (w *world) pass() {
	w.passDue = false
	for _, j := range w.back {
		w.hold(j)
	}
	w.back = w.back[:0]
	searches := maxVictimSearches
	free := 0
	for i := range w.nodes {
		free += w.fleet.Room(i, w.cfg.NodeQueue)
	}
	preemptOnly := false
	if free == 0 {
		if !w.cfg.Preempt {
			return // nothing can be placed: no node has room and no slot is taken back
		}
		preemptOnly = true
	}
	if w.cfg.HoldPrefetch {
		if w.hintedFirst(&free, &searches); free == 0 {
			return
		}
	}
	if w.cfg.HoldCloudPick {
		if w.cloudStage(&free); free == 0 {
			return
		}
	}
	var missed []shape
	for k := 0; k < len(w.held); {
		j := w.held[k]
		if preemptOnly && (j.task.Deadline <= 0 || searches == 0) {
			k++
			continue
		}
		sh := shape{j.task.Tiers, j.task.MemBytes}
		if slices.Contains(missed, sh) {
			k++
			continue
		}
		if w.placeHeld(j, &searches) {
			w.unhold(k)
			if free--; free == 0 {
				return
			}
			continue
		}
		k++
		if missed = append(missed, sh); len(missed) == maxMisses {
			return
		}
	}
}

// placeHeld is the engine's placement of one task: place.PickFree's node, after taking a
// victim's slot for a deadline task it would not get done in time (misses). It reports
// whether j was bound.
func (w *world) placeHeld(j *job, searches *int) bool {
	d := w.waitForBusy(&j.task, w.edgeUnlessQuiet(&j.task, place.PickFree(w.fleet, w.policy.Dispatcher, &j.task, w.cfg.NodeQueue, w.now)))
	at := -1
	if w.misses(&j.task, d.Node) && *searches > 0 {
		*searches--
		var victim *job
		if victim, at = w.preemptFor(&j.task); at >= 0 {
			if victim != nil {
				w.requeue(victim)
			}
			d = w.edgeUnlessQuiet(&j.task, place.PickFree(w.fleet, w.policy.Dispatcher, &j.task, w.cfg.NodeQueue, w.now))
		}
	}
	if d.Node >= 0 {
		w.fleet.Assign(d.Node, &j.task, w.now)
		w.bind(j, d.Node)
	}
	if at >= 0 {
		w.passDue = true // a task left a node
		w.startNext(at)
	}
	return d.Node >= 0
}

// heldBefore is the engine's order of pending tasks: priority (higher first), then arrival,
// then ID.
func heldBefore(a, b *job) bool {
	if a.task.Priority != b.task.Priority {
		return a.task.Priority > b.task.Priority
	}
	if a.task.Arrival != b.task.Arrival {
		return a.task.Arrival < b.task.Arrival
	}
	return a.task.ID < b.task.ID
}

// hold puts j among the held tasks, in order. O(held).
func (w *world) hold(j *job) {
	k := sort.Search(len(w.held), func(k int) bool { return heldBefore(j, w.held[k]) })
	w.held = slices.Insert(w.held, k, j)
	if j.task.Deadline > 0 {
		w.heldDue++
	}
}

// unhold removes the held task at k.
func (w *world) unhold(k int) {
	if w.held[k].task.Deadline > 0 {
		w.heldDue--
	}
	w.held = slices.Delete(w.held, k, k+1)
}
