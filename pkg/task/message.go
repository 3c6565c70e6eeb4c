package task

import (
	"time"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/protocol"
)

// Scheduler-side task states. The lifecycle:
//
//	pending ──place──▶ assigned ──agent ack/running event──▶ running
//	   ▲                  │                                    │
//	   └──retry/requeue───┴───── node lost past grace ─────────┤
//	                                                           ▼
//	                              succeeded | failed | cancelled (terminal)
//
// Every transition is persisted before it is announced.
const (
	StatePending   = "pending"
	StateAssigned  = "assigned"
	StateRunning   = "running"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

// Agent-side event states, carried by Event.State.
const (
	EventAccepted   = "accepted"   // verified and queued for a slot
	EventRefused    = "refused"    // not verified, not allowed or malformed: Error says why
	EventRunning    = "running"    // started (or resumed: Resumed is set)
	EventCheckpoint = "checkpoint" // progress saved
	// EventProgress is sent every progress interval while an attempt
	// runs, between its checkpoints: still running, Progress of Total
	// done (0 of 0 when the task reports none). It changes no state.
	EventProgress  = "progress"
	EventSucceeded = "succeeded"
	EventFailed    = "failed" // exit code ≠ 0, crash, timeout (Error says which)
	EventCancelled = "cancelled"
	// EventYielded ends an attempt the scheduler asked to yield
	// (AssignYield): the node stopped it after saving what it had done
	// as a checkpoint, whose checkpoint event precedes this one.
	// Progress/Total are that checkpoint's (those of the last one when
	// the task saved none since).
	EventYielded = "yielded"
)

// UnverifiedTask is the task an agent's refused event names when it
// refuses an assignment whose signature does not check: nothing in the
// body can be trusted, so the event's Error carries the claimed key id and
// the body's SHA-256 instead (agent/runner). The scheduler logs it as a
// warning: someone published on the node's command topic, or the node
// pins another key.
const UnverifiedTask = "_unverified"

// Terminal reports whether s (a scheduler state) ends a task.
func Terminal(s string) bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

// SubmitRequest is published to the region's submit topic. MQTT 3.1.1 has
// no response topic, so the request names where the reply goes.
type SubmitRequest struct {
	V         int    `json:"v"`
	RequestID string `json:"request_id"`
	ReplyTo   string `json:"reply_to"`
	Spec      Spec   `json:"spec"`
}

// ControlRequest is published to the region's control topic.
type ControlRequest struct {
	V         int    `json:"v"`
	RequestID string `json:"request_id"`
	ReplyTo   string `json:"reply_to"`
	Op        string `json:"op"` // OpCancel, OpList, OpQuarantine or OpRelease
	// Task is the task to cancel (OpCancel).
	Task string `json:"task,omitempty"`
	// Node is the node to release from quarantine (OpRelease).
	Node string `json:"node,omitempty"`
	// After and Limit page through the tasks (OpList): those whose id
	// sorts after After (empty: from the first), at most Limit of them
	// (1 to MaxPage; 0: MaxPage).
	After string `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

// Control operations: cancel a task; list the tasks a page at a time;
// list the nodes in quarantine; release a node from quarantine.
const (
	OpCancel     = "cancel"
	OpList       = "list"
	OpQuarantine = "quarantine"
	OpRelease    = "release"
)

// MaxPage is the most tasks one OpList reply carries: with their errors
// cut to MaxListError, a page stays far below MaxMessage.
const (
	MaxPage      = 256
	MaxListError = 256
)

// QuarantineList is retained on the region's tasks/quarantine topic: the
// nodes in quarantine now, by id, republished whenever that changes (an
// empty list: none).
type QuarantineList struct {
	V     int           `json:"v"`
	Nodes []Quarantined `json:"nodes"`
}

// Quarantined is a node the scheduler places no new task on until Until
// (its attempts failed too often in a row), or until an operator releases
// it.
type Quarantined struct {
	Node  string    `json:"node"`
	Until time.Time `json:"until"`
}

// Reply answers a SubmitRequest or ControlRequest on its ReplyTo topic.
type Reply struct {
	V         int    `json:"v"`
	RequestID string `json:"request_id"`
	OK        bool   `json:"ok"`
	Task      string `json:"task,omitempty"`
	// Existing: a submit whose ID named a task already known (idempotent
	// resubmission); State is that task's state.
	Existing bool   `json:"existing,omitempty"`
	State    string `json:"state,omitempty"`
	Error    string `json:"error,omitempty"`
	// Tasks is a page of OpList: statuses without attempts, result or
	// spec, their errors cut to MaxListError, by id. Next is the After of
	// the next page; empty: this was the last.
	Tasks []Status `json:"tasks,omitempty"`
	Next  string   `json:"next,omitempty"`
	// Quarantine answers OpQuarantine (and OpRelease): the nodes in
	// quarantine, by id.
	Quarantine []Quarantined `json:"quarantine,omitempty"`
}

// Status is retained on a task's status topic: where the task stands, with
// its attempt history, so mosquitto_sub can watch a task.
type Status struct {
	V         int       `json:"v"`
	Task      string    `json:"task"`
	State     string    `json:"state"`
	Attempt   uint32    `json:"attempt"`
	Node      string    `json:"node,omitempty"` // of the current attempt
	Submitted time.Time `json:"submitted"`
	Updated   time.Time `json:"updated"`
	// Progress is work units done of Total, from the last event or
	// checkpoint of the current attempt.
	Progress int64     `json:"progress,omitempty"`
	Total    int64     `json:"total,omitempty"`
	Result   *Result   `json:"result,omitempty"`
	Error    string    `json:"error,omitempty"`
	Attempts []Attempt `json:"attempts,omitempty"`
	Spec     *Spec     `json:"spec,omitempty"`
	// EstDone is when placement expected the current attempt, placed last,
	// to be done (absent when its policy makes no estimate); AtRisk: that
	// is after the task's deadline — no node could meet it.
	EstDone time.Time `json:"est_done,omitzero"`
	AtRisk  bool      `json:"at_risk,omitempty"`
	// Epoch is the leadership term of the scheduler that published the
	// status (0: a scheduler without high availability). An observer
	// orders a task's statuses by (Epoch, Updated): a status of a lower
	// epoch is older, whatever its time.
	Epoch uint64 `json:"epoch,omitempty"`
}

// OlderThan reports whether st is an older status of its task than prev:
// of a lower epoch (a deposed scheduler's, whatever its time), or of the
// same epoch and updated before it. An observer keeping a task's latest
// status drops a status that is older than the one it holds.
func (st *Status) OlderThan(prev *Status) bool {
	if st.Epoch != prev.Epoch {
		return st.Epoch < prev.Epoch
	}
	return st.Updated.Before(prev.Updated)
}

// Attempt is one placement of a task on a node.
type Attempt struct {
	N        uint32    `json:"n"`
	Node     string    `json:"node"`
	Assigned time.Time `json:"assigned"`
	Ended    time.Time `json:"ended,omitzero"`
	State    string    `json:"state"`            // the attempt's last event state
	Reason   string    `json:"reason,omitempty"` // why it ended: node lost, timeout, refused …
	// ResumedFrom is the progress of the checkpoint the attempt started
	// from (0: from the start).
	ResumedFrom int64 `json:"resumed_from,omitempty"`
}

// Assignment is what the scheduler sends a node, inside a signed Envelope,
// on the node's task command topic. Node and Expires bind it to one node
// and a time window, so a recorded assignment cannot be replayed to another
// node or much later.
type Assignment struct {
	V       int       `json:"v"`
	Op      string    `json:"op"` // AssignRun, AssignCancel or AssignYield
	Node    string    `json:"node"`
	Task    string    `json:"task"`
	Attempt uint32    `json:"attempt"`
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
	Spec    *Spec     `json:"spec,omitempty"` // for AssignRun
	// Checkpoint to resume from (AssignRun of a checkpointable task that
	// made progress elsewhere), with the progress it stands for.
	Checkpoint []byte `json:"checkpoint,omitempty"`
	Progress   int64  `json:"progress,omitempty"`
	// Epoch is the leadership term of the scheduler that issued the
	// assignment, inside the signed body so that only a holder of the
	// signing key can claim one. 0: a scheduler without high
	// availability (one per region), which never has a term; a leader of
	// a region with several schedulers never sends 0. An agent refuses an
	// assignment whose Epoch is below the highest it has accepted, so a
	// deposed leader can neither start nor cancel anything (agent/runner).
	Epoch uint64 `json:"epoch,omitempty"`
}

// Assignment operations. AssignYield asks the node to stop the attempt
// after saving its progress as a checkpoint, and to report it yielded
// (EventYielded); an agent that predates it refuses it as malformed, and
// the scheduler then cancels the attempt instead.
const (
	AssignRun    = "run"
	AssignCancel = "cancel"
	AssignYield  = "yield"
)

// Envelope carries a signed Assignment: Body is the assignment's JSON
// exactly as signed, Sig the scheduler's ed25519 signature over
// SignContext + Body, Key the signing key's id (the first 8 bytes of the
// public key, hex) so keys can be rotated.
type Envelope struct {
	V    int    `json:"v"`
	Key  string `json:"key"`
	Body []byte `json:"body"`
	Sig  []byte `json:"sig"`
}

// SignContext is prefixed to every signed body so a signature over an
// assignment can never be mistaken for one over anything else.
const SignContext = "tether/v1 assignment\x00"

// Event is what an agent reports about a task attempt, on its node's task
// topic, through its outbox (so it carries a Header and a seq).
type Event struct {
	protocol.Header
	Task    string `json:"task"`
	Attempt uint32 `json:"attempt"`
	State   string `json:"state"` // an Event* state
	// Progress is work units done of Total.
	Progress int64 `json:"progress,omitempty"`
	Total    int64 `json:"total,omitempty"`
	// Resumed is set on a running event that continues from a checkpoint.
	Resumed bool `json:"resumed,omitempty"`
	// Checkpoint travels with checkpoint events when it is small enough
	// (the agent's limit), so another node can resume the task.
	Checkpoint []byte  `json:"checkpoint,omitempty"`
	Result     *Result `json:"result,omitempty"`
	Error      string  `json:"error,omitempty"`
}

// Result is how an attempt ended on the node.
type Result struct {
	ExitCode   int    `json:"exit_code"`
	CPUMS      int64  `json:"cpu_ms"`                // child user+system CPU time
	MaxRSSKB   int64  `json:"max_rss_kb,omitempty"`  // child peak RSS
	Stdout     string `json:"stdout,omitempty"`      // tail, bounded
	Stderr     string `json:"stderr,omitempty"`      // tail, bounded
	Output     string `json:"output,omitempty"`      // a builtin's result (hex digest)
	WorkDone   int64  `json:"work_done,omitempty"`   // units computed by this attempt, resumes excluded
	DurationMS int64  `json:"duration_ms,omitempty"` // wall time of the attempt on the node
	// FetchMS is the part of DurationMS the attempt spent getting its
	// inputs onto the node (the end of their fetch ahead, then what was
	// still missing) before its work began: DurationMS less FetchMS is its
	// compute time. Absent without inputs, and from agents that do not
	// measure it.
	FetchMS int64 `json:"fetch_ms,omitempty"`
	// Outputs are the blobs the attempt stored, by the spec's output
	// names; the scheduler fetches them from the node.
	Outputs map[string]blob.ID `json:"outputs,omitempty"`
}
