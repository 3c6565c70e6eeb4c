package taskengine

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// maxCount bounds the counts a record keeps (progress, totals, sends,
// failures): protocol.MaxSeq, exact in JSON. The engine's own counts stay
// far below; a record above is damage.
const maxCount = protocol.MaxSeq

// checkTimes returns an error for the first time set outside the
// protocol's window: a record holding one could not be announced (its
// task.Status would not encode in UTC).
func checkTimes(times map[string]time.Time) error {
	for field, t := range times {
		if t.IsZero() {
			continue
		}
		if err := protocol.CheckTime(field, t); err != nil {
			return err
		}
	}
	return nil
}

func checkCounts(counts map[string]int64) error {
	for field, n := range counts {
		if n < 0 || n > maxCount {
			return fmt.Errorf("%s %d is outside 0..%d", field, n, int64(maxCount))
		}
	}
	return nil
}

// validate bounds what a stored task record holds.
func (t *Task) validate() error {
	times := map[string]time.Time{"submitted": t.Submitted, "updated": t.Updated, "not_before": t.NotBefore,
		"sent_at": t.SentAt, "started": t.Started, "est_done": t.EstDone}
	for i, a := range t.Attempts {
		n := "attempts[" + strconv.Itoa(i) + "]"
		times[n+".assigned"], times[n+".ended"] = a.Assigned, a.Ended
	}
	if err := checkTimes(times); err != nil {
		return err
	}
	counts := map[string]int64{"progress": t.Progress, "total": t.Total, "resumed": t.Resumed,
		"checkpoint_at": t.CheckpointAt, "checkpoint_total": t.CheckpointTotal,
		"failures": int64(t.Failures), "sends": int64(t.Sends)}
	for i, a := range t.Attempts {
		counts["attempts["+strconv.Itoa(i)+"].resumed_from"] = a.ResumedFrom
	}
	if err := checkCounts(counts); err != nil {
		return err
	}
	if len(t.Attempts) > task.MaxAttempts {
		return fmt.Errorf("%d attempts, limit %d", len(t.Attempts), task.MaxAttempts)
	}
	if !validState(t.State) {
		return fmt.Errorf("state %.64q is not a task state", t.State)
	}
	return nil
}

func validState(s string) bool {
	switch s {
	case task.StatePending, task.StateAssigned, task.StateRunning, task.StateSucceeded, task.StateFailed, task.StateCancelled:
		return true
	}
	return false
}

func (c *Checkpoint) validate() error {
	if len(c.Data) > task.MaxCheckpoint {
		return fmt.Errorf("checkpoint of %d bytes, limit %d", len(c.Data), task.MaxCheckpoint)
	}
	return checkCounts(map[string]int64{"progress": c.Progress, "total": c.Total})
}

func (f *Fence) validate() error {
	if err := checkTimes(map[string]time.Time{"sent_at": f.SentAt}); err != nil {
		return err
	}
	return checkCounts(map[string]int64{"sends": int64(f.Sends)})
}

func (q *Quarantine) validate() error {
	if q.Until.IsZero() {
		return errors.New("until: missing")
	}
	if err := checkTimes(map[string]time.Time{"until": q.Until}); err != nil {
		return err
	}
	return checkCounts(map[string]int64{"failures": int64(q.Failures)})
}
