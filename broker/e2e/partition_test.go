package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/tether-edge/tether/agent/runner"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// TestPartitionResumesElsewhere isolates the node running a checkpointable
// task behind a cut link, past the scheduler's grace: the task resumes on
// another node from the checkpoint the scheduler holds, while the isolated
// node keeps running its copy offline. When the link heals, the isolated
// node reports what it did; exactly one result is applied, with the right
// output, and the stale attempt is recorded, not applied.
func TestPartitionResumesElsewhere(t *testing.T) {
	t.Parallel()
	s := newTaskSite(t)
	s.startScheduler("--node-lost-grace", "3s")
	op := newOperator(t, s.site)
	link := newFlappingLink(t, fmt.Sprintf("127.0.0.1:%d", s.port), 7)
	s.startAgent("pi-iso", "--broker", link.url(), "--task-slots", "1")
	s.waitFleet(20*time.Second, "isolated-to-be node online", func(m map[string]protocol.FleetNode) bool { return m["pi-iso"].Online })

	// 200 units of 100 ms, checkpointed every 5 units (half a second).
	b := task.Builtin{Name: task.BuiltinSleep, Units: 200, UnitMS: 100, CheckpointEvery: 5}
	spec := task.Spec{ID: "partition-1", Kind: task.KindBuiltin, Builtin: &b, Checkpointable: true, Work: 20}
	if r := op.submit(spec); !r.OK {
		t.Fatalf("submit: %+v", r)
	}
	before := op.waitTasks(30*time.Second, "progress on pi-iso", func(m map[string]task.Status) bool {
		st := m[spec.ID]
		return st.State == task.StateRunning && st.Node == "pi-iso" && st.Progress >= 20
	})[spec.ID]

	s.startAgent("pi-other", "--task-slots", "1")
	s.waitFleet(20*time.Second, "second node online", func(m map[string]protocol.FleetNode) bool { return m["pi-other"].Online })
	link.setUp(false)
	cut := time.Now()
	seen := op.snapshot()[spec.ID].Progress // the last checkpoint the scheduler heard of
	t.Logf("cut pi-iso off at progress %d (seen before the second node came: %d)", seen, before.Progress)

	moved := op.waitTasks(60*time.Second, "task resumed on pi-other", func(m map[string]task.Status) bool {
		st := m[spec.ID]
		return st.Node == "pi-other" && st.Attempt >= 2 && (st.State == task.StateRunning || st.State == task.StateSucceeded)
	})[spec.ID]
	a2 := moved.Attempts[len(moved.Attempts)-1]
	t.Logf("attempt %d on %s %v after the cut, resumed from %d", a2.N, a2.Node, time.Since(cut).Round(100*time.Millisecond), a2.ResumedFrom)
	if a2.ResumedFrom < seen || a2.ResumedFrom == 0 {
		t.Errorf("attempt %d resumed from %d; the scheduler held a checkpoint at %d", a2.N, a2.ResumedFrom, seen)
	}

	// Heal while the moved copy runs: the isolated node delivers its own
	// copy's events (it kept running offline).
	time.Sleep(2 * time.Second) // kept: the moved copy runs a while before the heal
	link.setUp(true)
	final := op.waitTasks(90*time.Second, "task ended", func(m map[string]task.Status) bool {
		return task.Terminal(m[spec.ID].State)
	})[spec.ID]
	if final.State != task.StateSucceeded || final.Node != "pi-other" {
		t.Fatalf("task ended %s on %s: %+v", final.State, final.Node, final)
	}
	want, _ := runner.BuiltinOutput(b)
	if final.Result == nil || final.Result.Output != want {
		t.Fatalf("result %+v, want output %s", final.Result, want)
	}
	if final.Result.WorkDone != b.Units-a2.ResumedFrom {
		t.Errorf("the resumed attempt did %d units, want %d − %d", final.Result.WorkDone, b.Units, a2.ResumedFrom)
	}
	if n := appliedSuccesses(final); n != 1 {
		t.Errorf("%d successes applied, want exactly one: %+v", n, final.Attempts)
	}
	// The isolated node's attempt: ended by the scheduler (node lost), then
	// what the node reported after the heal is recorded, not applied.
	a1 := final.Attempts[0]
	if a1.Node != "pi-iso" || a1.Reason == "" {
		t.Errorf("first attempt %+v: want pi-iso's, ended with a reason", a1)
	}
	// Wait for the isolated node's report of its copy to reach the history.
	op.waitTasks(60*time.Second, "the isolated copy's end recorded", func(m map[string]task.Status) bool {
		a := m[spec.ID].Attempts[0]
		return a.State == task.EventSucceeded || a.State == task.EventCancelled
	})
	t.Logf("attempts: %+v", op.snapshot()[spec.ID].Attempts)
}
