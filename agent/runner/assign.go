package runner

import (
	"errors"
	"fmt"

	"github.com/tether-edge/tether/pkg/task"
)

// handle verifies a task command and acts on it. Nothing in payload is
// trusted before task.Verify.
func (r *Runner) handle(payload []byte) {
	env, err := task.DecodeEnvelope(payload)
	if err != nil {
		r.refuseUnverified(payload, nil, "not a signed assignment: "+err.Error())
		return
	}
	a, err := task.Verify(r.opts.Keys, env, r.opts.Node, r.opts.Now())
	if err != nil {
		id, attempt, signed := r.signedBody(env)
		switch {
		case !signed:
			r.refuseUnverified(payload, &env, err.Error())
		case r.limits.allow(): // a signed one may be replayed by anyone, as often
			r.refuse(id, attempt, err.Error())
		}
		return
	}
	if !r.epochAccepted(a) {
		return
	}
	switch a.Op {
	case task.AssignRun:
		r.assign(a)
	case task.AssignCancel:
		r.cancelAttempt(a, errCancelled)
	case task.AssignYield:
		r.cancelAttempt(a, errYield)
	}
}

// assign acts on a verified run assignment. One already known is
// answered with its current state, never run twice; one for a higher
// attempt ends the lower attempt on this node first.
func (r *Runner) assign(a task.Assignment) {
	old := r.tasks[a.Task]
	if old != nil {
		switch {
		case a.Attempt == old.attempt():
			r.log.Info("task assignment repeated; answering with the current state", "task", a.Task, "attempt", a.Attempt)
			r.resend(old)
			return
		case a.Attempt < old.attempt():
			r.refuse(a.Task, a.Attempt, fmt.Sprintf("attempt %d is stale: this node has attempt %d", a.Attempt, old.attempt()))
			return
		}
		r.end(old, fmt.Errorf("%w: superseded by attempt %d", errCancelled, a.Attempt))
	}
	spec := *a.Spec
	spec.Defaults()
	if reason := r.refusal(spec); reason != "" {
		r.refuse(a.Task, a.Attempt, reason)
		return
	}
	e := &entry{id: a.Task, sv: saved{Attempt: a.Attempt, Expires: a.Expires, Spec: spec,
		Progress: a.Progress, Total: total(spec), State: a.Checkpoint}}
	if old != nil {
		e.state, _, _ = old.current()
	}
	e.mu.Lock()
	err := r.journalLocked(e, task.EventAccepted, "accepted", true,
		task.Event{Progress: e.sv.Progress, Total: e.sv.Total})
	e.mu.Unlock()
	if err != nil {
		return // not recorded, so not run: the scheduler sends it again
	}
	r.log.Info("task accepted", "task", a.Task, "attempt", a.Attempt, "kind", spec.Kind, "queued", len(r.queue))
	r.tasks[a.Task] = e
	r.queue = append(r.queue, e)
	r.startQueued()
}

// refusal says why this node does not run spec; "" if it does.
func (r *Runner) refusal(spec task.Spec) string {
	if spec.Kind != task.KindExec {
		return ""
	}
	if !execSupported {
		return "exec tasks need a Unix system; this node runs builtins only"
	}
	if !r.allow[spec.Exec.Command] {
		return fmt.Sprintf("command %q is not on this node's allowlist (tasks.allow)", spec.Exec.Command)
	}
	return ""
}

// total is the units of work a task announces up front: a builtin's
// units; an exec task tells its own in its progress file.
func total(spec task.Spec) int64 {
	if spec.Builtin != nil {
		return spec.Builtin.Units
	}
	return 0
}

// cancelAttempt acts on a verified cancel (cause errCancelled) or yield
// (errYield): the attempt ends cancelled, or yielded after its worker
// saved its progress as a checkpoint (work.go). One for an attempt that
// ended is answered with its end; one for an attempt this node does not
// know, with a cancelled event saying so.
func (r *Runner) cancelAttempt(a task.Assignment, cause error) {
	e := r.tasks[a.Task]
	if e == nil {
		r.send(task.Event{Task: a.Task, Attempt: a.Attempt, State: task.EventCancelled,
			Error: "not known on this node: never assigned here, or ended and forgotten"})
		return
	}
	state, _, _ := e.current()
	switch {
	case a.Attempt < e.attempt():
		r.send(task.Event{Task: a.Task, Attempt: a.Attempt, State: task.EventCancelled,
			Error: fmt.Sprintf("attempt %d was superseded by attempt %d on this node", a.Attempt, e.attempt())})
	case a.Attempt == e.attempt() && terminal(state):
		r.resend(e)
	case a.Attempt == e.attempt():
		r.log.Info("task "+cause.Error(), "task", a.Task, "attempt", a.Attempt)
		r.end(e, cause)
	default: // a later attempt than this node has: the one it has is stale
		r.end(e, fmt.Errorf("%w: attempt %d cancelled", errCancelled, a.Attempt))
		r.send(task.Event{Task: a.Task, Attempt: a.Attempt, State: task.EventCancelled,
			Error: fmt.Sprintf("attempt %d is not known on this node", a.Attempt)})
	}
}

// end cancels e's attempt unless it already ended: a running worker is
// stopped (it journals cancelled, or yielded for errYield), a queued one is
// journaled so here.
func (r *Runner) end(e *entry, cause error) {
	r.stopPrefetch(e)
	if e.cancel != nil {
		r.stop(e, cause)
		return
	}
	if !r.dequeue(e) {
		return // ended already
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sv.Error = cause.Error()
	to := task.EventCancelled
	if errors.Is(cause, errYield) {
		to = task.EventYielded
	}
	_ = r.journalLocked(e, to, cause.Error(), true,
		task.Event{Progress: e.sv.Progress, Total: e.sv.Total, Error: cause.Error()})
}
