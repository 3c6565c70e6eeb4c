package e2e

import (
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// TestDeadlineTaskPreemptsALongOne: a real agent with one slot runs a long
// checkpointable task (15 s, a checkpoint a second). A 2-second task due in
// 8 s would miss its deadline behind it, so the scheduler takes the long
// one's attempt back: its node is sent a cancel, the urgent task runs and
// ends in time, and the long task runs again from its last checkpoint and
// succeeds — each once.
func TestDeadlineTaskPreemptsALongOne(t *testing.T) {
	t.Parallel()
	s := newTaskSite(t)
	s.startScheduler()
	s.startAgent("pi-one", "--task-slots", "1")
	s.waitFleet(20*time.Second, "agent online", func(m map[string]protocol.FleetNode) bool { return m["pi-one"].Online })
	op := newOperator(t, s.site)

	long := task.Spec{ID: "long", Kind: task.KindBuiltin, Work: 15, Checkpointable: true,
		Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 150, UnitMS: 100, CheckpointEvery: 10}}
	if r := op.submit(long); !r.OK {
		t.Fatalf("submit long: %+v", r)
	}
	op.waitTasks(30*time.Second, "the long task past its third checkpoint", func(m map[string]task.Status) bool {
		return m["long"].State == task.StateRunning && m["long"].Progress >= 30
	})
	urgent := task.Spec{ID: "urgent", Kind: task.KindBuiltin, Work: 2, Deadline: task.Duration(8 * time.Second),
		Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 20, UnitMS: 100}}
	if r := op.submit(urgent); !r.OK {
		t.Fatalf("submit urgent: %+v", r)
	}
	final := op.waitTasks(60*time.Second, "both tasks ended", func(m map[string]task.Status) bool {
		return task.Terminal(m["urgent"].State) && task.Terminal(m["long"].State)
	})
	u, l := final["urgent"], final["long"]
	if u.State != task.StateSucceeded || u.Attempt != 1 {
		t.Fatalf("urgent: %s after %d attempts (%s)", u.State, u.Attempt, u.Error)
	}
	if took := u.Updated.Sub(u.Submitted); took > 8*time.Second {
		t.Errorf("urgent ended %v after its submission, past its 8 s deadline", took)
	}
	if u.AtRisk {
		t.Error("urgent was placed at risk: the preemption should have made room in time")
	}
	if l.State != task.StateSucceeded || l.Attempt != 2 || len(l.Attempts) != 2 {
		t.Fatalf("long: %s, attempt %d, history %+v", l.State, l.Attempt, l.Attempts)
	}
	first, second := l.Attempts[0], l.Attempts[1]
	t.Logf("long: attempt 1 ended %q; attempt 2 resumed from %d of 150; urgent took %v",
		first.Reason, second.ResumedFrom, u.Updated.Sub(u.Submitted).Round(10*time.Millisecond))
	if first.Reason != "preempted for urgent" {
		t.Errorf("long's first attempt ended %q, want preempted for urgent", first.Reason)
	}
	if second.ResumedFrom < 30 {
		t.Errorf("long's second attempt resumed from %d, want its last checkpoint (≥ 30)", second.ResumedFrom)
	}
}
