package taskengine

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
)

// Reply errors a submitter sees.
const (
	errIDUsed = "id already used by a different spec"
)

// Submit applies a decoded, valid submit request (task.DecodeSubmitRequest
// and a reply topic in this region: the Service checks both). An existing
// id with the same spec answers Existing with the task's state; with a
// different spec, an error. Nothing is stored for a refused request.
func (e *Engine) Submit(req task.SubmitRequest) {
	reply := task.Reply{V: task.Version, RequestID: req.RequestID}
	defer func() { e.send(req.ReplyTo, reply) }()
	spec := req.Spec
	if err := spec.Validate(); err != nil { // DecodeSubmitRequest checked it; a direct caller may not have
		reply.Error = replyError(err)
		return
	}
	spec.Defaults()
	if spec.Policy != "" && e.policies != nil {
		if err := e.policies.CheckPolicy(spec.Policy); err != nil {
			reply.Error = replyError(err)
			return
		}
	}
	if spec.ID != "" {
		reply.Task = spec.ID
		en, err := e.lookup(spec.ID)
		if err != nil {
			e.log.Error("task store read failed", "task", spec.ID, "err", err)
			reply.Error = "the scheduler cannot read its task store; try again later"
			return
		}
		if en != nil {
			if !sameSpec(&en.t.Spec, &spec) {
				reply.Error = errIDUsed
				return
			}
			reply.OK, reply.Existing, reply.State = true, true, en.t.State
			return
		}
	} else {
		spec.ID = e.opts.NewID()
	}
	if e.pending >= e.opts.MaxPending {
		reply.Task = ""
		reply.Error = fmt.Sprintf("queue full: %d tasks are pending (tasks.max_pending); submit again later", e.pending)
		return
	}
	now := e.now()
	if e.admitter != nil {
		r := &Request{Task: spec.ID, Spec: &spec, Work: workFrom(&Task{Spec: spec}, 0), Submitted: now}
		if err := e.admitter.Admit(r, e.pendingRequests); err != nil {
			reply.Error = replyError(err)
			e.log.Info("task refused at admission", "task", spec.ID, "request", req.RequestID, "err", err)
			return
		}
	}
	reply.Task = spec.ID
	en := &entry{t: &Task{Spec: spec, State: task.StatePending, Submitted: now, Updated: now}}
	e.tasks[spec.ID] = en
	e.touch(en)
	e.log.Info("task submitted", "task", spec.ID, "request", req.RequestID)
	if e.queue != nil {
		e.placeDue = true // in the queue's order, at the end of the round
	} else {
		e.victimSearches = maxVictimSearches
		e.place(en, e.clock())
	}
	reply.OK, reply.State = true, en.t.State
}

// pendingRequests yields the pending tasks as requests (an Admitter's
// queue), in no particular order.
func (e *Engine) pendingRequests(yield func(*Request) bool) {
	for _, en := range e.tasks {
		if en.t.State == task.StatePending && !yield(e.request(en, e.resumePoint(en))) {
			return
		}
	}
}

// sameSpec compares two specs with their defaults filled in.
func sameSpec(a, b *task.Spec) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// replyError is err's text, cut to what a Reply may carry.
func replyError(err error) string { return cut(err.Error(), task.MaxError) }

// cut cuts s to at most n bytes, with an ellipsis when it had more.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	c := n - len(ellipsis)
	for c > 0 && !utf8.RuneStart(s[c]) {
		c--
	}
	return s[:c] + ellipsis
}

// Refuse answers a request the Service could decode only far enough to
// know where to reply (an invalid spec, an unknown op): nothing is stored.
func (e *Engine) Refuse(replyTo, requestID string, err error) {
	e.send(replyTo, task.Reply{V: task.Version, RequestID: requestID, Error: replyError(err)})
}

// clearRetained queues the empty retained message that removes the
// retained message on topic.
func (e *Engine) clearRetained(topic string) {
	e.msgs = append(e.msgs, Message{Message: session.Message{Topic: topic, QoS: 1, Retained: true}})
	e.odd(e.clock(), "retained request refused and cleared", "topic", topic)
}

// Control applies a decoded, valid control request: cancel (cancelling a
// cancelled task succeeds again; one that succeeded or failed cannot be),
// list a page of tasks, list the nodes in quarantine, or release one.
func (e *Engine) Control(req task.ControlRequest) {
	reply := task.Reply{V: task.Version, RequestID: req.RequestID, Task: req.Task}
	defer func() { e.send(req.ReplyTo, reply) }()
	switch req.Op {
	case task.OpCancel:
	case task.OpList:
		e.list(req, &reply)
		return
	case task.OpQuarantine:
		e.quarantine(&reply)
		return
	case task.OpRelease:
		if !e.Release(req.Node) {
			reply.Error = "node " + req.Node + " is not in quarantine"
			return
		}
		e.quarantine(&reply)
		return
	default:
		reply.Error = fmt.Sprintf("unknown op %q", req.Op)
		return
	}
	en, err := e.lookup(req.Task)
	switch {
	case err != nil:
		e.log.Error("task store read failed", "task", req.Task, "err", err)
		reply.Error = "the scheduler cannot read its task store; try again later"
		return
	case en == nil:
		reply.Error = "no task " + req.Task
		return
	}
	t := en.t
	reply.State = t.State
	switch t.State {
	case task.StateCancelled:
		reply.OK = true
		return
	case task.StateSucceeded, task.StateFailed:
		reply.Error = "task already " + t.State
		return
	case task.StateAssigned, task.StateRunning:
		e.endAttempt(en, "cancelled by request", true)
	}
	t.State, t.Error, t.NotBefore = task.StateCancelled, "cancelled by request", time.Time{}
	e.touch(en)
	e.log.Info("task cancelled", "task", t.Spec.ID, "request", req.RequestID)
	reply.OK, reply.State = true, t.State
}
