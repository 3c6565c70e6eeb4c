package taskengine

import (
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// place tries to place a pending task: on success it becomes assigned to
// a new attempt and its assignment is sent.
func (e *Engine) place(en *entry, at instant) bool {
	t := en.t
	if t.State != task.StatePending || at.before(en.notBefore) || e.awaitsYield(t.Spec.ID) {
		return false
	}
	if e.opts.Key == nil {
		if at.sub(e.noKeyLog) >= time.Minute {
			e.noKeyLog = at
			e.log.Error("no signing key configured (tasks.signing_key_file): tasks stay pending, no assignment is sent")
		}
		return false
	}
	resume := e.resumePoint(en)
	r := e.request(en, resume)
	r.Ahead = e.ahead
	n := e.opts.Placer.Place(r, e.candidates())
	if e.missesDeadline(t, n) || (n == nil && e.preemptWaiting) {
		switch {
		case e.preemptFor(r):
			n = e.opts.Placer.Place(r, e.candidates())
		case e.awaitsYield(t.Spec.ID):
			return false // the victim's slot, not n, once it yields
		}
	}
	if n == nil {
		e.unplaced.Add(1)
		e.setStuck(en, true)
		return false
	}
	e.setStuck(en, false)
	t.Attempt++
	t.State, t.Node, t.Avoid, t.NotBefore = task.StateAssigned, n.ID, "", time.Time{}
	t.Acked, t.Sends, t.SentAt, t.Started, t.Resumed = false, 0, time.Time{}, time.Time{}, resume
	en.notBefore, en.sentAt, en.started = 0, 0, 0
	t.Progress = resume
	if resume == 0 {
		t.Total = 0
	} else {
		t.Total = en.cp.Total
	}
	t.Attempts = append(t.Attempts, task.Attempt{N: t.Attempt, Node: n.ID, Assigned: e.now(), State: task.StateAssigned, ResumedFrom: resume})
	if len(t.Attempts) > maxHistory {
		t.Attempts = append(t.Attempts[:0], t.Attempts[len(t.Attempts)-maxHistory:]...)
	}
	e.estimate(t)
	e.chargeNode(en)
	en.alive = at
	if e.observer != nil {
		e.observer.AttemptAssigned(Attempt{Task: t.Spec.ID, Attempt: t.Attempt, Node: n.ID, Request: r})
	}
	e.touch(en)
	e.sendRun(en, true)
	e.log.Info("task assigned", "task", t.Spec.ID, "node", n.ID, "attempt", t.Attempt, "resumed_from", resume)
	return true
}

// request is what placement is asked about an attempt of en that starts
// at progress resume.
func (e *Engine) request(en *entry, resume int64) *Request {
	t := en.t
	return &Request{Task: t.Spec.ID, Spec: &t.Spec, Work: workFrom(t, resume), Avoid: t.Avoid, Submitted: t.Submitted}
}

// resumePoint is the progress of the checkpoint a new attempt starts from:
// the latest the scheduler holds, for a checkpointable task.
func (e *Engine) resumePoint(en *entry) int64 {
	if !en.t.Spec.Checkpointable || en.cp == nil || len(en.cp.Data) == 0 {
		return 0
	}
	return en.cp.Progress
}

// workFrom is the task's estimated work when it resumes at progress.
func workFrom(t *Task, progress int64) float64 {
	c := *t
	c.Progress = progress
	if progress > 0 && c.Total == 0 && c.Spec.Builtin != nil {
		c.Total = c.Spec.Builtin.Units
	}
	return remaining(&c)
}

// sendRun publishes (after the commit) the current attempt's signed
// assignment; counted says whether it counts against AckResends (a
// re-send after a scheduler restart does not).
func (e *Engine) sendRun(en *entry, counted bool) {
	t := en.t
	now := e.now()
	a := task.Assignment{V: task.Version, Op: task.AssignRun, Node: t.Node, Task: t.Spec.ID, Attempt: t.Attempt,
		Issued: now, Expires: now.Add(e.opts.Expiry), Spec: &t.Spec}
	if t.Resumed > 0 && en.cp != nil {
		a.Checkpoint, a.Progress = en.cp.Data, en.cp.Progress
	}
	if counted {
		t.Sends++
	}
	t.SentAt, en.sentAt = now, e.clock()
	e.assign(a)
}

// sendCancel publishes (after the commit) an AssignCancel for attempt n of
// task id on node.
func (e *Engine) sendCancel(node, id string, n uint32) {
	now := e.now()
	e.assign(task.Assignment{V: task.Version, Op: task.AssignCancel, Node: node, Task: id, Attempt: n,
		Issued: now, Expires: now.Add(e.opts.Expiry)})
	e.log.Info("attempt cancel sent", "task", id, "node", node, "attempt", n)
}

// assign signs a, stamped with the engine's epoch, and publishes it
// (after the commit) to its node.
func (e *Engine) assign(a task.Assignment) {
	if e.opts.Key == nil {
		return
	}
	a.Epoch = e.opts.Epoch
	env, err := task.Sign(e.opts.Key, a)
	if err != nil {
		e.log.Error("assignment not signed", "task", a.Task, "err", err) // cannot happen
		return
	}
	e.send(e.opts.Topics.NodeCommand(a.Node, protocol.CmdTask), env)
}

// endAttempt ends en's current attempt with reason and takes its charge
// off the node. fence says the node may still be running it: it is fenced
// and sent an AssignCancel (now if online, else when it is back).
func (e *Engine) endAttempt(en *entry, reason string, fence bool) {
	e.endAttemptWith(en, reason, fence, nil)
}

// endAttemptWith is endAttempt, with the node's result of an attempt that
// succeeded for the Observer.
func (e *Engine) endAttemptWith(en *entry, reason string, fence bool, res *task.Result) {
	t := en.t
	now := e.now()
	if a := t.current(); a != nil && a.Ended.IsZero() {
		a.Ended, a.Reason = notBefore(now, a.Assigned), reason
	}
	if fence && t.Node != "" {
		e.fence(t.Node, t.Spec.ID, t.Attempt)
	}
	e.yieldEnded(en)
	if e.observer != nil && en.charge.node != "" {
		e.observer.AttemptEnded(t.Spec.ID, t.Attempt, res)
	}
	e.release(en)
	t.Acked, t.Sends, t.SentAt, t.Started = false, 0, time.Time{}, time.Time{}
	en.sentAt, en.started = 0, 0
}

// requeue makes en pending again for a new attempt that uses no retry.
func (e *Engine) requeue(en *entry) {
	t := en.t
	t.State, t.Node, t.NotBefore = task.StatePending, "", time.Time{}
	en.notBefore = 0
	e.touch(en)
	e.placeDue = true
}

// retryOrFail follows a failed attempt: the task is pending again after
// its backoff while retries are left, else failed with reason.
func (e *Engine) retryOrFail(en *entry, reason string) {
	t := en.t
	t.Failures++
	if t.Failures > t.Spec.Retries {
		t.State, t.Error = task.StateFailed, reason
		e.touch(en)
		e.log.Warn("task failed", "task", t.Spec.ID, "attempts", t.Attempt, "err", reason)
		return
	}
	t.State, t.Node = task.StatePending, ""
	b := e.backoff(t.Failures)
	t.NotBefore, en.notBefore = e.now().Add(b), e.clock().add(b)
	e.touch(en)
	e.log.Info("task attempt failed: retrying", "task", t.Spec.ID, "attempt", t.Attempt, "failures", t.Failures,
		"retries", t.Spec.Retries, "not_before", t.NotBefore, "err", reason)
}

// backoff is the delay before the attempt after the n-th failure:
// base × 2^(n−1), at most the cap.
func (e *Engine) backoff(n int) time.Duration {
	d := e.opts.BackoffBase
	for i := 1; i < n && d < e.opts.BackoffCap; i++ {
		d *= 2
	}
	return min(d, e.opts.BackoffCap)
}

// estimate records the placement's estimate of the new attempt's end, and
// whether it misses the task's deadline.
func (e *Engine) estimate(t *Task) {
	t.EstDone, t.AtRisk = time.Time{}, false
	est, ok := e.opts.Placer.(Estimator)
	if !ok {
		return
	}
	done, ok := est.Estimate()
	if !ok {
		return
	}
	t.EstDone = done.UTC().Truncate(time.Millisecond)
	if d := t.Spec.Deadline.D(); d > 0 && done.After(t.Submitted.Add(d)) {
		t.AtRisk = true
		e.log.Warn("task at risk of missing its deadline", "task", t.Spec.ID, "attempt", t.Attempt,
			"est_done", t.EstDone, "deadline", t.Submitted.Add(d).UTC())
	}
}

// missesDeadline reports whether t has a deadline that placing it on n
// (nil: nowhere now) would miss, by the Placer's estimate.
func (e *Engine) missesDeadline(t *Task, n *Candidate) bool {
	d := t.Spec.Deadline.D()
	if d <= 0 {
		return false
	}
	if n == nil {
		return true
	}
	est, ok := e.opts.Placer.(Estimator)
	if !ok {
		return false
	}
	done, ok := est.Estimate()
	return ok && done.After(t.Submitted.Add(d))
}

// preemptFor asks a Preempter for a running attempt to take back for r.
// Its node is asked to yield it (yield.go): r then waits for the yield,
// and preemptFor reports false. When it cannot be asked, the attempt
// ends now, as when the yield does not come: its node is fenced and sent
// a cancel, and the task is pending again, to resume from its last
// checkpoint without using a retry; preemptFor reports true, r may take
// the slot.
func (e *Engine) preemptFor(r *Request) bool {
	if e.preempter == nil || e.victimSearches <= 0 {
		return false
	}
	e.victimSearches--
	id, n, ok := e.preempter.Victim(r, e.candidates())
	if !ok {
		return false
	}
	v := e.tasks[id]
	if v == nil || v.t.Attempt != n || v.charge.node == "" || !v.t.Spec.Checkpointable ||
		(v.t.State != task.StateAssigned && v.t.State != task.StateRunning) {
		return false // not a running attempt the engine knows: the Placer's view is behind
	}
	if e.yields[id] != nil {
		return false // yielding already, for another task
	}
	e.preempted.Add(1)
	if e.askYield(v, r.Task) {
		return false
	}
	node := v.t.Node
	e.takeBack(v, r.Task)
	e.log.Info("attempt preempted", "task", id, "attempt", n, "node", node, "for", r.Task)
	return true
}
