package runner

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tether-edge/tether/agent/store"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// saved is what the store keeps of a task as its checkpoint: everything a
// restarted agent needs to resume the attempt or to answer for it.
type saved struct {
	Attempt uint32    `json:"attempt"`
	Expires time.Time `json:"expires"` // the assignment's: a replay verifies until then
	Spec    task.Spec `json:"spec"`    // with defaults filled in
	// Progress of Total is what State stands for.
	Progress int64 `json:"progress,omitempty"`
	Total    int64 `json:"total,omitempty"`
	// Result and Error are set once the attempt ended, so the end can be
	// reported again exactly.
	Result *task.Result `json:"result,omitempty"`
	Error  string       `json:"error,omitempty"`
	// State is the workload's checkpoint (the builtins' 40 bytes, an exec
	// task's checkpoint file); nil: none, the task starts from zero.
	State []byte `json:"-"`
}

// The saved record's encoding: a format byte, the JSON of the fields above
// with its length, then State raw (an exec checkpoint may be up to
// maxState bytes, which base64 inside the JSON would grow by a third).
//
//	0x01 | len(json) uint32 BE | json | state
const savedFormat = 1

// maxState bounds a workload checkpoint kept on the node: the store's
// limit, less room for the spec and the result.
const maxState = store.MaxCheckpointLen - task.MaxSpec - 64<<10

func (s *saved) encode() ([]byte, error) {
	j, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode the saved task: %w", err)
	}
	state := s.State
	if 5+len(j)+len(state) > store.MaxCheckpointLen && s.Result != nil {
		// An ended attempt resumes no more: its end must be journaled even
		// when a large checkpoint and a heavily escaped result do not fit.
		state = nil
	}
	b := make([]byte, 0, 5+len(j)+len(state))
	b = append(b, savedFormat)
	b = binary.BigEndian.AppendUint32(b, uint32(len(j)))
	b = append(b, j...)
	return append(b, state...), nil
}

func decodeSaved(b []byte) (saved, error) {
	if len(b) < 5 || b[0] != savedFormat {
		return saved{}, errors.New("saved task: unknown format")
	}
	n := binary.BigEndian.Uint32(b[1:5])
	if uint64(n) > uint64(len(b)-5) {
		return saved{}, errors.New("saved task: truncated")
	}
	var s saved
	if err := json.Unmarshal(b[5:5+n], &s); err != nil {
		return saved{}, fmt.Errorf("saved task: %w", err)
	}
	if err := s.Spec.Validate(); err != nil {
		return saved{}, fmt.Errorf("saved task: %w", err)
	}
	if err := s.validate(); err != nil {
		return saved{}, fmt.Errorf("saved task: %w", err)
	}
	if rest := b[5+n:]; len(rest) > 0 {
		s.State = append([]byte(nil), rest...)
	}
	return s, nil
}

// validate bounds what the events made from a saved task carry, so a
// damaged record cannot make events the scheduler refuses.
func (s *saved) validate() error {
	if s.Progress < 0 || s.Total < 0 || s.Progress > protocol.MaxSeq || s.Total > protocol.MaxSeq {
		return fmt.Errorf("progress %d of %d outside 0..%d", s.Progress, s.Total, int64(protocol.MaxSeq))
	}
	if !s.Expires.IsZero() {
		if err := protocol.CheckTime("expires", s.Expires); err != nil {
			return err
		}
	}
	return nil
}
