package taskengine

import (
	"maps"
	"slices"
	"time"

	"github.com/tether-edge/tether/pkg/task"
)

// Preemption takes a fresh checkpoint first. preemptFor asks the victim's
// node to yield the attempt (task.AssignYield): the agent saves the
// task's progress as a checkpoint, sends it as any checkpoint, stops the
// attempt and reports it yielded. Meanwhile the task preempted for waits
// (awaiting) and the victim keeps its slot. Then:
//
//	asked ──yielded event──▶ attempt ended "yielded for <task>", no fence ──┐
//	  │ ──refused event (an agent without yield)──┐                         │
//	  │ ──YieldWait passed (Tick)─────────────────┴▶ ended "preempted for   ├─▶ victim pending, resuming
//	  │                                               <task>": fenced and   │   from its checkpoint;
//	  │                                               cancelled, as before  │   the waiting task is
//	  └──the attempt ended otherwise (succeeded, node lost, cancelled…)─────┘   placed first (Settle)
//
// The victim is never pending while its attempt may still run: it is
// requeued only once the node reported the attempt over, or once the
// attempt is fenced. An answer after the fallback is an event of an
// ended attempt, recorded and never applied (stale): its checkpoint is
// not taken, its yield does not end anything again.
//
// The record is in memory only: a restarted scheduler (or a new leader)
// has none and looks for a victim again; a yielded event it did not ask
// for ends the attempt the same way (yielded).
type yielding struct {
	attempt uint32
	node    string
	forTask string  // the task waiting for the slot
	until   instant // when the fallback cancels the attempt
}

// askYield asks v's node to yield its attempt for the task forTask, if it
// may: yielding is on, the attempt runs (an attempt not yet started has
// nothing to save) and its node is online. It reports whether it asked.
func (e *Engine) askYield(v *entry, forTask string) bool {
	t := v.t
	if e.opts.YieldWait <= 0 || e.opts.Key == nil || t.State != task.StateRunning || !e.node(t.Node).Online {
		return false
	}
	e.yields[t.Spec.ID] = &yielding{attempt: t.Attempt, node: t.Node, forTask: forTask, until: e.clock().add(e.opts.YieldWait)}
	e.awaiting[forTask] = t.Spec.ID
	now := e.now()
	e.assign(task.Assignment{V: task.Version, Op: task.AssignYield, Node: t.Node, Task: t.Spec.ID, Attempt: t.Attempt,
		Issued: now, Expires: now.Add(e.opts.Expiry)})
	e.log.Info("attempt asked to yield", "task", t.Spec.ID, "attempt", t.Attempt, "node", t.Node, "for", forTask,
		"wait", e.opts.YieldWait)
	return true
}

// awaitsYield reports whether the task id waits for a victim's yield.
func (e *Engine) awaitsYield(id string) bool {
	v, ok := e.awaiting[id]
	if ok && e.yields[v] == nil {
		delete(e.awaiting, id)
		return false
	}
	return ok
}

// yieldEnded forgets the yield asked of en's current attempt, which just
// ended, and queues the task that waited for it to be placed first.
func (e *Engine) yieldEnded(en *entry) {
	id := en.t.Spec.ID
	y := e.yields[id]
	if y == nil || y.attempt != en.t.Attempt {
		return
	}
	delete(e.yields, id)
	if e.awaiting[y.forTask] == id {
		delete(e.awaiting, y.forTask)
	}
	e.handoffs = append(e.handoffs, y.forTask)
	e.placeDue = true
}

// yielded applies a yielded event of the live attempt: the node stopped
// it after its checkpoint (an earlier event of the same sequence), so it
// ends without a fence and the task is pending again. One not asked for
// (a restarted scheduler forgot it asked) is taken the same way.
func (e *Engine) yielded(en *entry, a *task.Attempt, ev task.Event) {
	reason := "yielded"
	if y := e.yields[ev.Task]; y != nil && y.attempt == ev.Attempt {
		reason = "yielded for " + y.forTask
	}
	e.endAttempt(en, reason, false)
	a.State = ev.State
	if ev.Total > 0 {
		en.t.Progress, en.t.Total = max(en.t.Progress, ev.Progress), ev.Total
	}
	e.requeue(en)
	e.log.Info("attempt yielded", "task", ev.Task, "attempt", ev.Attempt, "node", ev.Node, "progress", ev.Progress,
		"checkpoint_at", en.t.CheckpointAt)
}

// yieldRefused handles a refused event of an attempt asked to yield: an
// agent that predates AssignYield refuses it as malformed while the
// attempt runs on. The attempt is taken back as without a yield. It
// reports whether the event was that.
func (e *Engine) yieldRefused(en *entry, ev task.Event) bool {
	y := e.yields[ev.Task]
	if y == nil || y.attempt != ev.Attempt || en.t.State != task.StateRunning {
		return false
	}
	e.log.Info("yield refused by the node: cancelling the attempt", "task", ev.Task, "attempt", ev.Attempt,
		"node", ev.Node, "err", ev.Error)
	e.takeBack(en, y.forTask)
	return true
}

// yieldsDue falls back for the yields not answered within YieldWait: the
// attempt is taken back as without a yield (fenced and cancelled).
func (e *Engine) yieldsDue(now instant) {
	for _, id := range slices.Sorted(maps.Keys(e.yields)) {
		y := e.yields[id]
		en := e.tasks[id]
		if en == nil || en.t.Attempt != y.attempt || (en.t.State != task.StateAssigned && en.t.State != task.StateRunning) {
			delete(e.yields, id) // ended by a way that did not see it (cannot happen)
			e.placeDue = true
			continue
		}
		if now.before(y.until) {
			continue
		}
		e.log.Warn("attempt not yielded in time: cancelling it", "task", id, "attempt", y.attempt, "node", y.node,
			"for", y.forTask, "waited", time.Duration(now-y.until)+e.opts.YieldWait)
		e.takeBack(en, y.forTask)
	}
}

// takeBack ends v's attempt for the task forTask without its node's
// word: the node is fenced and sent a cancel, and the task is pending
// again, to resume from the last checkpoint the scheduler holds, without
// using a retry.
func (e *Engine) takeBack(v *entry, forTask string) {
	e.endAttempt(v, "preempted for "+forTask, true)
	e.requeue(v)
}

// handOff places the tasks whose victims' attempts ended, before any
// other pending task (the victims' own included) may take the slots.
func (e *Engine) handOff(now instant) {
	ids := e.handoffs
	e.handoffs = nil
	for _, id := range ids {
		if en := e.tasks[id]; en != nil {
			e.victimSearches = maxVictimSearches
			e.place(en, now)
		}
	}
}
