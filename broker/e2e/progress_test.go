package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// TestTaskProgressBetweenCheckpoints: a real agent reporting progress
// every second runs a builtin that is not checkpointable, so it makes
// no checkpoint; the scheduler's retained status shows its progress move
// while it runs, where it used to stay at 0 until the task ended.
func TestTaskProgressBetweenCheckpoints(t *testing.T) {
	t.Parallel()
	s := newTaskSite(t)
	s.startScheduler()
	op := newOperator(t, s.site)
	cfg := filepath.Join(s.dir, "progress-agent.yaml")
	if err := os.WriteFile(cfg, []byte("tasks:\n  progress_interval: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.startAgent("pi-p1", "--config", cfg)
	s.waitFleet(20*time.Second, "the agent online", func(m map[string]protocol.FleetNode) bool { return m["pi-p1"].Online })

	const units = 16 // of 500 ms: 8 s
	spec := task.Spec{ID: "steady", Kind: task.KindBuiltin,
		Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: units, UnitMS: 500}}
	if r := op.submit(spec); !r.OK {
		t.Fatalf("submit: %+v", r)
	}
	mid := op.waitTasks(30*time.Second, "progress shown while the task runs", func(m map[string]task.Status) bool {
		st := m["steady"]
		return st.State == task.StateRunning && st.Progress > 0 && st.Progress < units
	})["steady"]
	if mid.Total != units {
		t.Fatalf("running at %d of %d, want a total of %d", mid.Progress, mid.Total, units)
	}
	end := op.waitTasks(30*time.Second, "the task succeeds", func(m map[string]task.Status) bool {
		return task.Terminal(m["steady"].State)
	})["steady"]
	if end.State != task.StateSucceeded || end.Progress != units || end.Attempt != 1 {
		t.Fatalf("ended %s at %d of %d in attempt %d: %s", end.State, end.Progress, end.Total, end.Attempt, end.Error)
	}
}
