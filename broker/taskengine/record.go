package taskengine

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/tether-edge/tether/pkg/task"
)

// Task is the scheduler's record of one task: what task.Status announces,
// and the bookkeeping of its current attempt. It is stored whole under a/
// or f/ on every transition (records are a few KiB; the group commit makes
// many of them one transaction).
type Task struct {
	Spec      task.Spec `json:"spec"`
	State     string    `json:"state"` // a task.State* constant
	Submitted time.Time `json:"submitted"`
	Updated   time.Time `json:"updated"`
	// Attempt is the current (latest) attempt's number, 0 before the
	// first placement; Node is its node while it is assigned or running.
	Attempt  uint32         `json:"attempt,omitempty"`
	Node     string         `json:"node,omitempty"`
	Attempts []task.Attempt `json:"attempts,omitempty"` // oldest first, at most maxHistory
	Progress int64          `json:"progress,omitempty"`
	Total    int64          `json:"total,omitempty"`
	Result   *task.Result   `json:"result,omitempty"`
	Error    string         `json:"error,omitempty"`

	// Failures counts the attempts that used up a retry (failed, refused,
	// timed out); a lost node or an unacknowledged assignment uses none.
	Failures int `json:"failures,omitempty"`
	// EstDone and AtRisk are the current attempt's estimate from its
	// placement (task.Status).
	EstDone time.Time `json:"est_done,omitzero"`
	AtRisk  bool      `json:"at_risk,omitempty"`
	// NotBefore holds a pending task back until its retry backoff ends.
	NotBefore time.Time `json:"not_before,omitzero"`
	// Avoid is a node an attempt was taken from (no acknowledgement,
	// refused): the next placement prefers any other.
	Avoid string `json:"avoid,omitempty"`

	// The current attempt, while assigned or running.
	Acked   bool      `json:"acked,omitempty"`   // an accepted (or later) event came
	Sends   int       `json:"sends,omitempty"`   // times its assignment was published
	SentAt  time.Time `json:"sent_at,omitzero"`  // last publication, scheduler clock
	Started time.Time `json:"started,omitzero"`  // first running event, scheduler clock
	Resumed int64     `json:"resumed,omitempty"` // progress of the checkpoint it was sent

	// CheckpointAt is the progress of the checkpoint held under c/ (0:
	// none), CheckpointTotal its total.
	CheckpointAt    int64 `json:"checkpoint_at,omitempty"`
	CheckpointTotal int64 `json:"checkpoint_total,omitempty"`
}

// maxHistory bounds a task's attempt history: a task re-queued again and
// again (nodes lost one after another) keeps its latest attempts.
const maxHistory = 64

// current returns the current attempt's history entry, nil before the
// first placement.
func (t *Task) current() *task.Attempt {
	if t.Attempt == 0 {
		return nil
	}
	return t.attempt(t.Attempt)
}

// attempt returns attempt n's history entry, nil if it is not kept.
func (t *Task) attempt(n uint32) *task.Attempt {
	for i := len(t.Attempts) - 1; i >= 0; i-- {
		if t.Attempts[i].N == n {
			return &t.Attempts[i]
		}
	}
	return nil
}

// Status is the retained announcement of the task.
func (t *Task) Status() task.Status {
	spec := t.Spec
	st := task.Status{
		V: task.Version, Task: t.Spec.ID, State: t.State, Attempt: t.Attempt, Node: t.Node,
		Submitted: t.Submitted, Updated: t.Updated, Progress: t.Progress, Total: t.Total,
		Result: t.Result, Error: t.Error, Attempts: t.Attempts, Spec: &spec,
		EstDone: t.EstDone, AtRisk: t.AtRisk,
	}
	return st
}

// Values are framed: format byte | JSON | CRC-32C (big endian) of what
// comes before. Badger checks its own files, but returns an empty value
// without an error when a value-log read fails (docs/dependencies.md); the
// checksum turns that into one. JSON keeps the records readable with
// `badger` tooling and lets fields be added within a schema version.
const (
	formatTask       = 1
	formatCheckpoint = 2
	formatFence      = 3
	formatQuarantine = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errDamaged wraps every decoding error of a stored value.
var errDamaged = errors.New("damaged value")

func frame(format byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b)+5)
	out = append(out, format)
	out = append(out, b...)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(out, castagnoli)), nil
}

func unframe(what string, format byte, value []byte, v any) error {
	if len(value) < 1+crc32.Size {
		return fmt.Errorf("%w: %s: %d bytes long", errDamaged, what, len(value))
	}
	body, sum := value[:len(value)-crc32.Size], value[len(value)-crc32.Size:]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(sum) {
		return fmt.Errorf("%w: %s: checksum mismatch", errDamaged, what)
	}
	if body[0] != format {
		return fmt.Errorf("%w: %s: format %d, want %d", errDamaged, what, body[0], format)
	}
	if err := json.Unmarshal(body[1:], v); err != nil {
		return fmt.Errorf("%w: %s: %v", errDamaged, what, err)
	}
	return nil
}

func encodeTask(t *Task) ([]byte, error) { return frame(formatTask, t) }

func decodeTask(id string, value []byte) (*Task, error) {
	t := new(Task)
	if err := unframe("task "+id, formatTask, value, t); err != nil {
		return nil, err
	}
	if t.Spec.ID != id {
		return nil, fmt.Errorf("%w: task %s: record names task %q", errDamaged, id, t.Spec.ID)
	}
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("%w: task %s: %v", errDamaged, id, err)
	}
	return t, nil
}

// Checkpoint is the latest checkpoint of a task, from the attempt that
// made it.
type Checkpoint struct {
	Attempt  uint32 `json:"attempt"`
	Progress int64  `json:"progress"`
	Total    int64  `json:"total,omitempty"`
	Data     []byte `json:"data"`
}

func decodeCheckpoint(id string, value []byte) (*Checkpoint, error) {
	c := new(Checkpoint)
	if err := unframe("checkpoint "+id, formatCheckpoint, value, c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%w: checkpoint %s: %v", errDamaged, id, err)
	}
	return c, nil
}

// Fence is a stale attempt a node may still be running: the node is sent
// an AssignCancel for it when it comes back, until it reports the attempt
// ended or the cancel was sent maxFenceSends times.
type Fence struct {
	Node    string    `json:"node"`
	Task    string    `json:"task"`
	Attempt uint32    `json:"attempt"`
	Sends   int       `json:"sends,omitempty"`
	SentAt  time.Time `json:"sent_at,omitzero"`
	sent    instant   // SentAt on the monotonic clock
}

// maxFenceSends: a node that was sent the cancel of a stale attempt this
// many times (on separate returns or stale events) and never reported it
// ended most likely never had it.
const maxFenceSends = 3

func decodeFence(node, id string, value []byte) (*Fence, error) {
	f := new(Fence)
	if err := unframe("fence "+node+"/"+id, formatFence, value, f); err != nil {
		return nil, err
	}
	if f.Node != node || f.Task != id {
		return nil, fmt.Errorf("%w: fence %s/%s: record names %s/%s", errDamaged, node, id, f.Node, f.Task)
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("%w: fence %s/%s: %v", errDamaged, node, id, err)
	}
	return f, nil
}

// Quarantine is a node in quarantine (quarantine.go): kept so that a
// restarted scheduler does not give a failing node new tasks at once.
type Quarantine struct {
	Node  string    `json:"node"`
	Until time.Time `json:"until"` // scheduler wall clock
	// Failures is the node's failures in a row when it was quarantined.
	Failures int `json:"failures,omitempty"`
}

func decodeQuarantine(node string, value []byte) (*Quarantine, error) {
	q := new(Quarantine)
	if err := unframe("quarantine "+node, formatQuarantine, value, q); err != nil {
		return nil, err
	}
	if q.Node != node {
		return nil, fmt.Errorf("%w: quarantine %s: record names %q", errDamaged, node, q.Node)
	}
	if err := q.validate(); err != nil {
		return nil, fmt.Errorf("%w: quarantine %s: %v", errDamaged, node, err)
	}
	return q, nil
}
