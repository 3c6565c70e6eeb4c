package taskengine

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tether-edge/tether/pkg/roundtrip"
	"github.com/tether-edge/tether/pkg/task"
)

// hostileTimes cannot be written in UTC: a record holding one could not be
// announced.
var hostileTimes = []string{"9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+23:59"}

func hostileTime(t testing.TB, s string) time.Time {
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func storedTask() *Task {
	return &Task{Spec: builtin("t1", 5), State: task.StateRunning, Submitted: t0, Updated: t0, Attempt: 1, Node: "pi-a",
		Attempts: []task.Attempt{{N: 1, Node: "pi-a", Assigned: t0, State: task.EventRunning}}}
}

// A stored record whose times or counts are out of bounds is damage: it is
// skipped (counted) at load instead of being announced unencodable.
func TestRecordBounds(t *testing.T) {
	t.Parallel()
	far, zero := hostileTime(t, hostileTimes[0]), hostileTime(t, hostileTimes[1])
	taskCases := map[string]func(*Task){
		"submitted in year 10000":          func(tk *Task) { tk.Submitted = far },
		"updated in year -1":               func(tk *Task) { tk.Updated = zero },
		"not_before in year 10000":         func(tk *Task) { tk.NotBefore = far },
		"attempt ended in year -1":         func(tk *Task) { tk.Attempts[0].Ended = zero },
		"progress 2^63-1":                  func(tk *Task) { tk.Progress = math.MaxInt64 },
		"negative sends":                   func(tk *Task) { tk.Sends = -1 },
		"attempt resumed_from 2^63-1":      func(tk *Task) { tk.Attempts[0].ResumedFrom = math.MaxInt64 },
		"unknown state":                    func(tk *Task) { tk.State = "sleeping" },
		"checkpoint_total 2^63-1":          func(tk *Task) { tk.CheckpointTotal = math.MaxInt64 },
		"ok: sent in 1970 (scheduler RTC)": nil,
	}
	for name, mutate := range taskCases {
		tk := storedTask()
		if mutate != nil {
			mutate(tk)
		} else {
			tk.SentAt = time.Unix(42, 0).UTC()
		}
		v, err := encodeTask(tk)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err = decodeTask("t1", v)
		if mutate == nil && err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if mutate != nil && !errors.Is(err, errDamaged) {
			t.Errorf("%s: got %v, want a damaged record", name, err)
		}
	}
	for name, c := range map[string]Checkpoint{
		"checkpoint progress -1":   {Attempt: 1, Progress: -1},
		"checkpoint of 64 KiB + 1": {Attempt: 1, Data: make([]byte, task.MaxCheckpoint+1)},
	} {
		v, _ := frame(formatCheckpoint, c)
		if _, err := decodeCheckpoint("t1", v); !errors.Is(err, errDamaged) {
			t.Errorf("%s: got %v, want a damaged record", name, err)
		}
	}
	v, _ := frame(formatFence, Fence{Node: "pi-a", Task: "t1", Attempt: 1, SentAt: far})
	if _, err := decodeFence("pi-a", "t1", v); !errors.Is(err, errDamaged) {
		t.Errorf("fence sent in year 10000: got %v, want a damaged record", err)
	}
	for name, q := range map[string]Quarantine{
		"quarantine until year 10000": {Node: "pi-a", Until: far},
		"quarantine without an end":   {Node: "pi-a"},
		"quarantine of another node":  {Node: "pi-b", Until: t0},
		"quarantine failures -1":      {Node: "pi-a", Until: t0, Failures: -1},
	} {
		v, _ := frame(formatQuarantine, q)
		if _, err := decodeQuarantine("pi-a", v); !errors.Is(err, errDamaged) {
			t.Errorf("%s: got %v, want a damaged record", name, err)
		}
	}
}

// FuzzDecodeRecords: a checkpoint, fence or quarantine record read back from disk
// decodes to one that encodes again to the same record, or is an error.
func FuzzDecodeRecords(f *testing.F) {
	cp, _ := frame(formatCheckpoint, Checkpoint{Attempt: 1, Progress: 2, Total: 5, Data: []byte("x")})
	fe, _ := frame(formatFence, Fence{Node: "pi-a", Task: "t1", Attempt: 1, Sends: 1, SentAt: t0})
	qu, _ := frame(formatQuarantine, Quarantine{Node: "pi-a", Until: t0, Failures: 3})
	f.Add(cp)
	f.Add(fe)
	f.Add(qu)
	for _, s := range hostileTimes {
		v, _ := frame(formatFence, Fence{Node: "pi-a", Task: "t1", Attempt: 1, SentAt: hostileTime(f, s)})
		f.Add(v)
		v, _ = frame(formatQuarantine, Quarantine{Node: "pi-a", Until: hostileTime(f, s)})
		f.Add(v)
	}
	big, _ := frame(formatCheckpoint, Checkpoint{Attempt: math.MaxUint32, Progress: math.MaxInt64, Total: -1})
	f.Add(big)
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := decodeCheckpoint("t1", b); err == nil {
			roundtrip.Check(t, c, func(c *Checkpoint) ([]byte, error) { return frame(formatCheckpoint, c) },
				func(b []byte) (*Checkpoint, error) { return decodeCheckpoint("t1", b) })
		}
		if fn, err := decodeFence("pi-a", "t1", b); err == nil {
			roundtrip.Check(t, fn, func(fn *Fence) ([]byte, error) { return frame(formatFence, fn) },
				func(b []byte) (*Fence, error) { return decodeFence("pi-a", "t1", b) },
				cmpopts.IgnoreUnexported(Fence{})) // the engine's monotonic reading: never stored
		}
		if q, err := decodeQuarantine("pi-a", b); err == nil {
			roundtrip.Check(t, q, func(q *Quarantine) ([]byte, error) { return frame(formatQuarantine, q) },
				func(b []byte) (*Quarantine, error) { return decodeQuarantine("pi-a", b) })
		}
	})
}
