package task

import (
	"encoding/hex"
	"maps"
	"slices"
	"strconv"

	"github.com/tether-edge/tether/pkg/protocol"
)

// Limits on what messages carry besides a spec.
const (
	// MaxCheckpoint bounds a checkpoint carried by an Event or an
	// Assignment. A task with a larger state keeps it on its node: it can
	// resume after a restart of its agent, not elsewhere.
	MaxCheckpoint = 64 << 10
	// MaxTail bounds Result.Stdout, Result.Stderr and Result.Output: the
	// end of what the task wrote (Tail makes one).
	MaxTail = 4 << 10
	// MaxError bounds the Error of a Reply, Status or Event and an
	// Attempt's Reason: room for every problem one Validate reports.
	MaxError = 8 << 10
	// MaxAttempts bounds Status.Attempts: the scheduler publishes the most
	// recent ones. Retries are at most 100, but attempts ended by a lost
	// node do not count against them.
	MaxAttempts = 256
)

// Validate checks a SubmitRequest as DecodeSubmitRequest does.
func (m *SubmitRequest) Validate() error {
	if err := checkVersion(m.V); err != nil {
		return err
	}
	var p problems
	p.id("request_id", "request id", m.RequestID)
	p.replyTo(m.ReplyTo, m.RequestID)
	m.Spec.validate(&p, "spec")
	return p.err()
}

// Validate checks a ControlRequest as DecodeControlRequest does.
func (m *ControlRequest) Validate() error {
	if err := checkVersion(m.V); err != nil {
		return err
	}
	var p problems
	p.id("request_id", "request id", m.RequestID)
	p.replyTo(m.ReplyTo, m.RequestID)
	switch m.Op {
	case OpCancel:
		p.id("task", "task", m.Task)
	case OpList:
		p.optionalID("after", "task", m.After)
		if m.Limit < 0 || m.Limit > MaxPage {
			p.add("limit", "is %d: want 0 to %d", m.Limit, MaxPage)
		}
	case OpQuarantine:
	case OpRelease:
		p.id("node", "node", m.Node)
	default:
		p.add("op", "is %s: want %q, %q, %q or %q", quote(m.Op), OpCancel, OpList, OpQuarantine, OpRelease)
	}
	if m.Op != OpCancel {
		p.optionalID("task", "task", m.Task)
	}
	if m.Op != OpRelease {
		p.optionalID("node", "node", m.Node)
	}
	if m.Op != OpList {
		p.optionalID("after", "task", m.After)
		if m.Limit != 0 {
			p.add("limit", "is set for op %s: only list pages", quote(m.Op))
		}
	}
	return p.err()
}

func (p *problems) replyTo(topic, request string) {
	if topic == "" {
		p.add("reply_to", "is missing: the topic for the reply, %s/<region>/replies/<username>/<request_id>", protocol.Root)
		return
	}
	r, err := ParseReplyTo(topic)
	if err != nil {
		p.add("reply_to", "%v", err)
	} else if r.Request != request {
		p.add("reply_to", "ends in %s, not in the request_id %s", quote(r.Request), quote(request))
	}
}

// Validate checks a Reply as DecodeReply does.
func (m *Reply) Validate() error {
	if err := checkVersion(m.V); err != nil {
		return err
	}
	var p problems
	p.id("request_id", "request id", m.RequestID)
	p.optionalID("task", "task", m.Task)
	if m.State != "" && !schedulerState(m.State) {
		p.add("state", "is %s: not a task state", quote(m.State))
	}
	switch {
	case m.OK && m.Error != "":
		p.add("error", "is set in a reply that is ok")
	case !m.OK && m.Error == "":
		p.add("error", "is missing: a refusal says why")
	case !m.OK && m.Existing:
		p.add("existing", "is set in a refusal")
	}
	p.text("error", m.Error, MaxError)
	p.optionalID("next", "task", m.Next)
	if len(m.Tasks) > MaxPage {
		p.add("tasks", "has %d entries, limit %d", len(m.Tasks), MaxPage)
	}
	for i := range m.Tasks {
		if err := m.Tasks[i].Validate(); err != nil {
			p.add("tasks["+strconv.Itoa(i)+"]", "%v", err)
		}
	}
	p.quarantine("quarantine", m.Quarantine)
	return p.err()
}

// maxQuarantined bounds a list of nodes in quarantine: a message of them
// stays within MaxMessage.
const maxQuarantined = 2048

func (p *problems) quarantine(at string, qs []Quarantined) {
	if len(qs) > maxQuarantined {
		p.add(at, "has %d entries, limit %d", len(qs), maxQuarantined)
	}
	for i, q := range qs {
		p.id(at+"["+strconv.Itoa(i)+"].node", "node", q.Node)
		if q.Until.IsZero() {
			p.add(at+"["+strconv.Itoa(i)+"].until", "is missing")
		}
		p.time(at+"["+strconv.Itoa(i)+"].until", q.Until)
	}
}

// Validate checks a QuarantineList as DecodeQuarantineList does.
func (m *QuarantineList) Validate() error {
	if err := checkVersion(m.V); err != nil {
		return err
	}
	var p problems
	p.quarantine("nodes", m.Nodes)
	return p.err()
}

// Validate checks a Status as DecodeStatus does.
func (m *Status) Validate() error {
	if err := checkVersion(m.V); err != nil {
		return err
	}
	var p problems
	p.id("task", "task", m.Task)
	if !schedulerState(m.State) {
		p.add("state", "is %s: not a task state", quote(m.State))
	}
	p.optionalID("node", "node", m.Node)
	switch {
	case m.Submitted.IsZero():
		p.add("submitted", "is missing")
	case m.Updated.IsZero():
		p.add("updated", "is missing")
	case m.Updated.Before(m.Submitted):
		p.add("updated", "is before submitted")
	}
	p.time("submitted", m.Submitted)
	p.time("updated", m.Updated)
	p.time("est_done", m.EstDone)
	p.epoch("epoch", m.Epoch)
	p.progress("progress", m.Progress, m.Total)
	if m.Result != nil {
		m.Result.validate(&p, "result")
	}
	p.text("error", m.Error, MaxError)
	if len(m.Attempts) > MaxAttempts {
		p.add("attempts", "has %d entries, limit %d", len(m.Attempts), MaxAttempts)
	}
	for i := range m.Attempts {
		m.Attempts[i].validate(&p, "attempts["+strconv.Itoa(i)+"]")
	}
	if m.Spec != nil {
		m.Spec.validate(&p, "spec")
	}
	return p.err()
}

func (a *Attempt) validate(p *problems, at string) {
	if a.N < 1 {
		p.add(at+".n", "is 0: attempts count from 1")
	}
	p.id(at+".node", "node", a.Node)
	switch {
	case a.Assigned.IsZero():
		p.add(at+".assigned", "is missing")
	case !a.Ended.IsZero() && a.Ended.Before(a.Assigned):
		p.add(at+".ended", "is before assigned")
	}
	p.time(at+".assigned", a.Assigned)
	p.time(at+".ended", a.Ended)
	if a.State != "" && !eventState(a.State) && !schedulerState(a.State) {
		p.add(at+".state", "is %s: not a task or event state", quote(a.State))
	}
	p.text(at+".reason", a.Reason, MaxError)
	p.count(at+".resumed_from", a.ResumedFrom)
}

func (r *Result) validate(p *problems, at string) {
	// os.ProcessState.ExitCode: -1 when the process was killed by a
	// signal or did not start.
	if r.ExitCode < -1 || r.ExitCode > 255 {
		p.add(at+".exit_code", "is %d: want -1 to 255", r.ExitCode)
	}
	if r.CPUMS < 0 || r.MaxRSSKB < 0 || r.WorkDone < 0 || r.DurationMS < 0 || r.FetchMS < 0 {
		p.add(at, "cpu_ms, max_rss_kb, work_done, duration_ms and fetch_ms may not be negative")
	}
	if r.CPUMS > maxMS || r.DurationMS > maxMS {
		p.add(at, "cpu_ms %d or duration_ms %d is more than a century", r.CPUMS, r.DurationMS)
	}
	if r.FetchMS > r.DurationMS {
		// Part of the attempt, on the same clock.
		p.add(at+".fetch_ms", "is %d: more than duration_ms %d", r.FetchMS, r.DurationMS)
	}
	if r.MaxRSSKB > maxRSSKB {
		p.add(at+".max_rss_kb", "is %d: want at most %d", r.MaxRSSKB, int64(maxRSSKB))
	}
	if r.WorkDone > maxCount {
		p.add(at+".work_done", "is %d: want at most %d", r.WorkDone, int64(maxCount))
	}
	p.text(at+".stdout", r.Stdout, MaxTail)
	p.text(at+".stderr", r.Stderr, MaxTail)
	p.text(at+".output", r.Output, MaxTail)
	if len(r.Outputs) > MaxOutputs {
		p.add(at+".outputs", "has %d entries, limit %d", len(r.Outputs), MaxOutputs)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Outputs)) {
		if !DataName(k) {
			p.add(at+".outputs", "%s is not a data name", quote(k))
		}
		if err := r.Outputs[k].Validate(); err != nil || r.Outputs[k].IsZero() {
			p.add(at+".outputs["+quote(k)+"]", "is not a blob id")
		}
	}
}

// Validate checks an Assignment as DecodeAssignment does.
func (a *Assignment) Validate() error {
	if err := checkVersion(a.V); err != nil {
		return err
	}
	var p problems
	p.id("node", "node", a.Node)
	p.id("task", "task", a.Task)
	if a.Attempt < 1 {
		p.add("attempt", "is 0: attempts count from 1")
	}
	switch {
	case a.Issued.IsZero():
		p.add("issued", "is missing")
	case !a.Expires.After(a.Issued):
		p.add("expires", "is not after issued")
	}
	p.time("issued", a.Issued)
	p.time("expires", a.Expires)
	if len(a.Checkpoint) > MaxCheckpoint {
		p.add("checkpoint", "is %d bytes, limit %d", len(a.Checkpoint), MaxCheckpoint)
	}
	p.count("progress", a.Progress)
	p.epoch("epoch", a.Epoch)
	switch a.Op {
	case AssignRun:
		if a.Spec == nil {
			p.add("spec", "is missing: a run assignment carries the task's spec")
			break
		}
		a.Spec.validate(&p, "spec")
		if a.Spec.ID != "" && a.Spec.ID != a.Task {
			p.add("spec.id", "is %s, but the assignment is for task %s", quote(a.Spec.ID), quote(a.Task))
		}
		if len(a.Checkpoint) > 0 && !a.Spec.Checkpointable {
			p.add("checkpoint", "is set for a task that is not checkpointable")
		}
		if b := a.Spec.Builtin; b != nil && a.Progress > b.Units {
			p.add("progress", "is %d, more than spec.builtin.units (%d)", a.Progress, b.Units)
		}
	case AssignCancel, AssignYield:
		if a.Spec != nil || len(a.Checkpoint) > 0 || a.Progress != 0 {
			p.add("op", "a %s assignment carries no spec, checkpoint or progress", a.Op)
		}
	default:
		p.add("op", "is %s: want %q, %q or %q", quote(a.Op), AssignRun, AssignCancel, AssignYield)
	}
	return p.err()
}

// Validate checks an Envelope's shape as DecodeEnvelope does; Verify
// checks its signature.
func (e *Envelope) Validate() error {
	if err := checkVersion(e.V); err != nil {
		return err
	}
	var p problems
	if len(e.Key) != 16 || !isLowerHex(e.Key) {
		p.add("key", "is %s: want the key id, 16 lower-case hex digits", quote(e.Key))
	}
	if len(e.Body) == 0 {
		p.add("body", "is missing")
	}
	if len(e.Sig) != 64 {
		p.add("sig", "is %d bytes: want an ed25519 signature, 64 bytes", len(e.Sig))
	}
	return p.err()
}

func isLowerHex(s string) bool {
	_, err := hex.DecodeString(s)
	for i := 0; err == nil && i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'F' {
			return false
		}
	}
	return err == nil
}

// Validate checks an Event as DecodeEvent does: its header as for every
// counted agent message (protocol.Header.Validate), then its fields.
func (e *Event) Validate() error {
	if err := e.Header.Validate(true); err != nil {
		return err
	}
	var p problems
	p.id("task", "task", e.Task)
	if e.Attempt < 1 {
		p.add("attempt", "is 0: attempts count from 1")
	}
	if !eventState(e.State) {
		p.add("state", "is %s: not an event state", quote(e.State))
	}
	p.progress("progress", e.Progress, e.Total)
	if len(e.Checkpoint) > MaxCheckpoint {
		p.add("checkpoint", "is %d bytes, limit %d", len(e.Checkpoint), MaxCheckpoint)
	}
	if e.State == EventProgress && (len(e.Checkpoint) > 0 || e.Resumed) {
		p.add("state", "is \"progress\" with a checkpoint or resumed: a progress event carries only progress")
	}
	if e.Result != nil {
		switch e.State {
		case EventSucceeded, EventFailed, EventCancelled, EventYielded:
		default:
			p.add("result", "is set in a %s event: only an ended attempt has a result", quote(e.State))
		}
		e.Result.validate(&p, "result")
	}
	p.text("error", e.Error, MaxError)
	return p.err()
}

func schedulerState(s string) bool {
	switch s {
	case StatePending, StateAssigned, StateRunning, StateSucceeded, StateFailed, StateCancelled:
		return true
	}
	return false
}

func eventState(s string) bool {
	switch s {
	case EventAccepted, EventRefused, EventRunning, EventCheckpoint, EventProgress, EventSucceeded, EventFailed, EventCancelled,
		EventYielded:
		return true
	}
	return false
}
