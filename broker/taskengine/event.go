package taskengine

import (
	"strconv"
	"time"

	"github.com/tether-edge/tether/pkg/task"
)

// Event applies an agent's event: decoded and valid (task.DecodeEvent),
// from the node its topic names, and new in that node's sequence (the
// Service's caller drops seq duplicates). Applying is idempotent anyway:
// the agent's outbox delivers at least once, and a restarted scheduler
// hears events again. An event of a stale attempt is recorded in the
// attempt history and never applied.
func (e *Engine) Event(ev task.Event) {
	en, err := e.lookup(ev.Task)
	if err != nil {
		e.log.Error("task store read failed", "task", ev.Task, "err", err)
		return
	}
	if en == nil {
		e.log.Debug("event for an unknown task dropped", "task", ev.Task, "node", ev.Node, "attempt", ev.Attempt)
		return
	}
	t := en.t
	a := t.attempt(ev.Attempt)
	now := e.clock()
	if ev.Attempt > t.Attempt || a == nil && ev.Attempt == t.Attempt {
		e.odd(now, "event for an attempt never made dropped", "task", ev.Task, "node", ev.Node, "attempt", ev.Attempt)
		return
	}
	if a != nil && a.Node != ev.Node {
		e.odd(now, "event from a node the attempt was not assigned to dropped", "task", ev.Task, "node", ev.Node,
			"attempt", ev.Attempt, "assigned_to", a.Node)
		return
	}
	live := ev.Attempt == t.Attempt && (t.State == task.StateAssigned || t.State == task.StateRunning)
	if !live {
		if ev.State == task.EventProgress {
			ev.State = task.EventRunning // the history keeps states, not reports
		}
		e.stale(en, a, ev, now)
		return
	}
	switch ev.State {
	case task.EventAccepted:
		if !t.Acked || a.State == task.StateAssigned {
			t.Acked = true
			a.State = ev.State
			e.touch(en)
		}
	case task.EventRunning, task.EventCheckpoint, task.EventProgress:
		e.progress(en, a, ev, now)
	case task.EventSucceeded:
		e.succeeded(ev.Node)
		e.endAttemptWith(en, "", false, ev.Result)
		a.State = ev.State
		t.State, t.Result, t.Error = task.StateSucceeded, ev.Result, ""
		if ev.Total > 0 {
			t.Progress, t.Total = ev.Progress, ev.Total
		}
		e.touch(en)
		e.log.Info("task succeeded", "task", t.Spec.ID, "node", ev.Node, "attempt", ev.Attempt)
	case task.EventFailed:
		e.endAttempt(en, failReason(ev), false)
		a.State = ev.State
		t.Result = ev.Result
		e.retryOrFail(en, failReason(ev))
	case task.EventRefused:
		if e.yieldRefused(en, ev) {
			return
		}
		reason := "refused by " + ev.Node + ": " + failReason(ev)
		e.endAttempt(en, reason, false)
		a.State = ev.State
		t.Avoid = ev.Node
		e.retryOrFail(en, reason)
	case task.EventCancelled:
		// Not asked for (a cancel by request fences the attempt first):
		// the agent gave the attempt up, as when it shuts down. Like a
		// lost node, that uses no retry.
		e.endAttempt(en, "cancelled by the node", false)
		a.State = ev.State
		e.requeue(en)
	case task.EventYielded:
		e.yielded(en, a, ev)
	}
}

// progress applies a running, checkpoint or progress event of the live
// attempt. A progress event is life (en.alive) by itself, except for an
// attempt that must advance (progressBound): there only more progress is.
func (e *Engine) progress(en *entry, a *task.Attempt, ev task.Event, now instant) {
	t := en.t
	state := ev.State
	if state == task.EventProgress {
		state = a.State // a report, not a state of the attempt
		if state != task.EventCheckpoint {
			state = task.EventRunning
		}
		if !mustAdvance(&t.Spec) {
			en.alive = now
		}
	}
	changed := !t.Acked || a.State != state
	t.Acked = true
	a.State = state
	if t.State == task.StateAssigned {
		t.State, t.Started, en.started = task.StateRunning, e.now(), now
		en.alive = now
		changed = true
		if e.observer != nil {
			e.observer.AttemptRunning(t.Spec.ID, t.Attempt)
		}
	}
	if ev.Progress > t.Progress || ev.Total != t.Total && ev.Total > 0 {
		en.alive = now
		t.Progress = max(t.Progress, ev.Progress)
		if ev.Total > 0 {
			t.Total = ev.Total
		}
		e.chargeNode(en) // less work left
		changed = true
	}
	if ev.State == task.EventCheckpoint && len(ev.Checkpoint) > 0 && t.Spec.Checkpointable &&
		(en.cp == nil || ev.Progress >= en.cp.Progress) {
		en.cp = &Checkpoint{Attempt: ev.Attempt, Progress: ev.Progress, Total: ev.Total, Data: ev.Checkpoint}
		t.CheckpointAt, t.CheckpointTotal = ev.Progress, ev.Total
		en.cpWrite = true
		changed = true
	}
	if changed {
		e.touch(en)
	}
}

// stale records an event of an attempt that is no longer live (ended,
// or the task finished) in the history, without applying it. A node that
// still runs such an attempt is sent its cancel; one that reports it
// ended is unfenced.
func (e *Engine) stale(en *entry, a *task.Attempt, ev task.Event, now instant) {
	// A history that already ends keeps its end: a later event is an
	// older one delivered again (after a scheduler restart), or the node
	// took up an attempt it had refused from a re-send still on its way.
	// Either way a non-final event brings the cancel: harmless in the
	// first case (the node answers with the end it had), needed in the
	// second.
	if a != nil && !finalEvent(a.State) && a.State != ev.State {
		a.State = ev.State
		if finalEvent(ev.State) && a.Ended.IsZero() {
			a.Ended = notBefore(e.now(), a.Assigned)
		}
		e.mark(en, true) // history only: not a transition of the task
	}
	if finalEvent(ev.State) {
		e.unfence(ev.Node, ev.Task, ev.Attempt)
		return
	}
	if e.staleRunning(ev.Node, ev.Task, ev.Attempt, now) {
		e.log.Info("event of a stale attempt: cancelling it", "task", ev.Task, "node", ev.Node, "attempt", ev.Attempt,
			"state", ev.State, "current_attempt", en.t.Attempt, "task_state", en.t.State)
	}
}

// finalEvent reports an event state that ends an attempt on its node.
func finalEvent(s string) bool {
	switch s {
	case task.EventSucceeded, task.EventFailed, task.EventCancelled, task.EventRefused, task.EventYielded:
		return true
	}
	return false
}

func failReason(ev task.Event) string {
	if ev.Error != "" {
		return ev.Error
	}
	if ev.Result != nil {
		return "exit code " + strconv.Itoa(ev.Result.ExitCode)
	}
	return ev.State
}

// odd logs an event the engine drops as impossible, at most once a second
// (a broken or hostile agent must not flood the log), with the count of
// those held back.
func (e *Engine) odd(now instant, msg string, args ...any) {
	if now.sub(e.oddAt) < time.Second {
		e.oddHeld++
		return
	}
	if e.oddHeld > 0 {
		args = append(args, "suppressed_since_last", e.oddHeld)
	}
	e.oddAt, e.oddHeld = now, 0
	e.log.Warn(msg, args...)
}
