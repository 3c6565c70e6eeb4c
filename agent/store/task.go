package store

import (
	"fmt"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

// Transition is one step of a task's lifecycle, as the runner decides it.
// The store records it; the runner owns the state machine (which states
// exist, which steps are allowed) and serialises a task's transitions.
type Transition struct {
	Task     string
	Attempt  uint32
	From, To string // states; From is "" for a task's first transition
	At       time.Time
	Detail   string // for people: an exit code, an error
}

// TaskState is where a task stands: its last transition.
type TaskState struct {
	Task        string
	Attempt     uint32
	State       string    // To of the last transition
	Since       time.Time // At of the last transition
	Detail      string
	Transitions uint32 // how many the journal holds (History)
	Seq         uint64 // seq of the task event of the last transition
}

// Limits on what the journal holds.
const (
	MaxStateLen      = 64
	MaxDetailLen     = 4096
	MaxCheckpointLen = 1 << 20 // a bigger checkpoint belongs in a file the checkpoint names
)

const (
	stateFormat      = 1
	transitionFormat = 1
	checkpointFormat = 1
)

// check validates t for task.
func (t Transition) check(task string) error {
	if err := protocol.ValidateID("task id", task); err != nil {
		return err
	}
	if t.Task != task {
		return fmt.Errorf("transition of task %q journaled for task %q", t.Task, task)
	}
	if t.To == "" {
		return fmt.Errorf("task %s: transition to no state", task)
	}
	for _, s := range []string{t.From, t.To} {
		if len(s) > MaxStateLen {
			return fmt.Errorf("task %s: state %q longer than %d bytes", task, s, MaxStateLen)
		}
	}
	if len(t.Detail) > MaxDetailLen {
		return fmt.Errorf("task %s: detail of %d bytes, above %d", task, len(t.Detail), MaxDetailLen)
	}
	return nil
}

func encodeState(s TaskState) []byte {
	e := newEncoder(stateFormat, len(s.Task)+len(s.State)+len(s.Detail)+40)
	e.str(s.Task)
	e.u32(s.Attempt)
	e.str(s.State)
	e.time(s.Since)
	e.str(s.Detail)
	e.u32(s.Transitions)
	e.u64(s.Seq)
	return e.finish()
}

func decodeState(task string, value []byte) (TaskState, error) {
	d := newDecoder("state of task "+task, value, stateFormat)
	var s TaskState
	s.Task = d.str(protocol.MaxIDLen)
	s.Attempt = d.u32()
	s.State = d.str(MaxStateLen)
	s.Since = d.time()
	s.Detail = d.str(MaxDetailLen)
	s.Transitions = d.u32()
	s.Seq = d.seq()
	if err := d.done(); err != nil {
		return TaskState{}, err
	}
	if s.Task != task || s.State == "" || s.Transitions == 0 || s.Seq == 0 {
		d.fail("task %q, state %q, %d transitions, seq %d", s.Task, s.State, s.Transitions, s.Seq)
		return TaskState{}, d.err
	}
	return s, nil
}

func encodeTransition(t Transition, seq uint64) []byte {
	e := newEncoder(transitionFormat, len(t.Task)+len(t.From)+len(t.To)+len(t.Detail)+40)
	e.str(t.Task)
	e.u32(t.Attempt)
	e.str(t.From)
	e.str(t.To)
	e.time(t.At)
	e.str(t.Detail)
	e.u64(seq)
	return e.finish()
}

func decodeTransition(task string, value []byte) (Transition, uint64, error) {
	d := newDecoder("transition of task "+task, value, transitionFormat)
	var t Transition
	t.Task = d.str(protocol.MaxIDLen)
	t.Attempt = d.u32()
	t.From = d.str(MaxStateLen)
	t.To = d.str(MaxStateLen)
	t.At = d.time()
	t.Detail = d.str(MaxDetailLen)
	seq := d.seq()
	if err := d.done(); err != nil {
		return Transition{}, 0, err
	}
	if t.Task != task || t.To == "" || seq == 0 {
		d.fail("task %q, to %q, seq %d", t.Task, t.To, seq)
		return Transition{}, 0, d.err
	}
	return t, seq, nil
}

func encodeCheckpoint(attempt uint32, seq uint64, blob []byte) []byte {
	e := newEncoder(checkpointFormat, len(blob)+24)
	e.u32(attempt)
	e.u64(seq)
	e.bytes(blob)
	return e.finish()
}

// decodeCheckpoint returns the blob (a copy) and the seq of the transition
// that wrote it.
func decodeCheckpoint(task string, value []byte) ([]byte, uint64, error) {
	d := newDecoder("checkpoint of task "+task, value, checkpointFormat)
	d.u32() // attempt: for people reading the store with badger's tools
	seq := d.seq()
	blob := d.bytes(MaxCheckpointLen)
	if err := d.done(); err != nil {
		return nil, 0, err
	}
	if seq == 0 {
		d.fail("seq 0")
		return nil, 0, d.err
	}
	return append([]byte{}, blob...), seq, nil
}
