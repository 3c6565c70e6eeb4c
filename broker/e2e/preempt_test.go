package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// preemptSite is a scheduler (brokerConf, when not empty, its config
// file) and a real agent pi-one of one slot reporting progress every
// second, with an operator; the long task runs there, past 30 of its 150
// units (15 s, a checkpoint every `every` units).
func preemptSite(t *testing.T, brokerConf string, every int64) (*taskSite, *proc, *operator) {
	t.Helper()
	s := newTaskSite(t)
	if brokerConf == "" {
		s.startScheduler()
	} else {
		cfg := filepath.Join(s.dir, "broker.yaml")
		if err := os.WriteFile(cfg, []byte(brokerConf), 0o600); err != nil {
			t.Fatal(err)
		}
		s.startScheduler("--config", cfg)
	}
	agentCfg := filepath.Join(s.dir, "agent.yaml")
	if err := os.WriteFile(agentCfg, []byte("tasks:\n  progress_interval: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ag := s.startAgent("pi-one", "--task-slots", "1", "--config", agentCfg)
	s.waitFleet(20*time.Second, "agent online", func(m map[string]protocol.FleetNode) bool { return m["pi-one"].Online })
	op := newOperator(t, s.site)
	long := task.Spec{ID: "long", Kind: task.KindBuiltin, Work: 15, Checkpointable: true,
		Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 150, UnitMS: 100, CheckpointEvery: every}}
	if r := op.submit(long); !r.OK {
		t.Fatalf("submit long: %+v", r)
	}
	op.waitTasks(30*time.Second, "the long task past 30 units", func(m map[string]task.Status) bool {
		return m["long"].State == task.StateRunning && m["long"].Progress >= 30
	})
	return s, ag, op
}

// submitUrgent submits a 2-second task due in 8 s.
func submitUrgent(t *testing.T, op *operator) {
	t.Helper()
	urgent := task.Spec{ID: "urgent", Kind: task.KindBuiltin, Work: 2, Deadline: task.Duration(8 * time.Second),
		Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 20, UnitMS: 100}}
	if r := op.submit(urgent); !r.OK {
		t.Fatalf("submit urgent: %+v", r)
	}
}

// bothEnded waits for both tasks to end and checks the urgent one
// succeeded once, in time, and the long one succeeded in its second
// attempt; it returns the long one's status.
func bothEnded(t *testing.T, op *operator) task.Status {
	t.Helper()
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
	t.Logf("long: attempt 1 ended %q (%s); attempt 2 resumed from %d of 150; urgent took %v", l.Attempts[0].Reason,
		l.Attempts[0].State, l.Attempts[1].ResumedFrom, u.Updated.Sub(u.Submitted).Round(10*time.Millisecond))
	return l
}

// TestDeadlineTaskPreemptsALongOne: a real agent with one slot runs a long
// checkpointable task (15 s) whose periodic checkpoint comes only at 10 s.
// A 2-second task due in 8 s would miss its deadline behind it, so the
// scheduler takes the long one's attempt back: the agent yields it — a
// checkpoint of what it did, then the attempt over — the urgent task runs
// and ends in time, and the long task runs again from that checkpoint (at
// least the 30 units seen before; from the start without the yield) and
// succeeds — each once.
func TestDeadlineTaskPreemptsALongOne(t *testing.T) {
	t.Parallel()
	_, _, op := preemptSite(t, "", 100)
	seen := op.snapshot()["long"].Progress
	submitUrgent(t, op)
	l := bothEnded(t, op)
	first, second := l.Attempts[0], l.Attempts[1]
	if first.Reason != "yielded for urgent" || first.State != task.EventYielded {
		t.Errorf("long's first attempt ended %q (%s), want yielded for urgent", first.Reason, first.State)
	}
	if second.ResumedFrom < seen || second.ResumedFrom >= 100 {
		t.Errorf("long's second attempt resumed from %d, want the yield's checkpoint: at least the %d units seen before "+
			"the preemption, before the periodic one at 100", second.ResumedFrom, seen)
	}
}

// TestPreemptionFallsBackWhenTheAgentDoesNotYield: the same, with the
// agent frozen (SIGSTOP) when the scheduler asks it to yield, and
// placement.yield_wait 500ms. The scheduler cancels the attempt instead
// ("preempted for urgent") and places the urgent task; once the agent
// thaws, it yields late — its checkpoint (at 30 units or more) is an
// ended attempt's, never applied, so the long task resumes from the last
// checkpoint the scheduler held: none (at 150 of 150 units: never), the start.
func TestPreemptionFallsBackWhenTheAgentDoesNotYield(t *testing.T) {
	t.Parallel()
	_, ag, op := preemptSite(t, "placement:\n  yield_wait: 500ms\n", 150)
	ag.signal(syscall.SIGSTOP)
	thawed := false
	thaw := func() {
		if !thawed {
			ag.signal(syscall.SIGCONT)
			thawed = true
		}
	}
	t.Cleanup(thaw)
	submitUrgent(t, op)
	op.waitTasks(10*time.Second, "long's attempt taken back", func(m map[string]task.Status) bool {
		l := m["long"]
		return len(l.Attempts) > 0 && !l.Attempts[0].Ended.IsZero()
	})
	thaw()
	l := bothEnded(t, op)
	first, second := l.Attempts[0], l.Attempts[1]
	if first.Reason != "preempted for urgent" || first.State != task.EventYielded {
		t.Errorf("long's first attempt ended %q, its last event %s; want preempted for urgent, and the late yield "+
			"recorded", first.Reason, first.State)
	}
	if second.ResumedFrom != 0 {
		t.Errorf("long's second attempt resumed from %d: the late yield's checkpoint was applied", second.ResumedFrom)
	}
}

// TestSRTFPreemptionYields: under placement.policy srtf a short task
// without a deadline takes the long task's slot the same way — the agent
// yields the long one's attempt with a checkpoint of what it did, and the
// long task resumes from there.
func TestSRTFPreemptionYields(t *testing.T) {
	t.Parallel()
	_, _, op := preemptSite(t, "placement:\n  policy: srtf\n  background_load: false\n", 100)
	seen := op.snapshot()["long"].Progress
	short := task.Spec{ID: "short", Kind: task.KindBuiltin, Work: 1,
		Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 10, UnitMS: 100}}
	if r := op.submit(short); !r.OK {
		t.Fatalf("submit short: %+v", r)
	}
	final := op.waitTasks(60*time.Second, "both tasks ended", func(m map[string]task.Status) bool {
		return task.Terminal(m["short"].State) && task.Terminal(m["long"].State)
	})
	s, l := final["short"], final["long"]
	if s.State != task.StateSucceeded || s.Attempt != 1 {
		t.Fatalf("short: %s after %d attempts (%s)", s.State, s.Attempt, s.Error)
	}
	if l.State != task.StateSucceeded || l.Attempt != 2 || len(l.Attempts) != 2 {
		t.Fatalf("long: %s, attempt %d, history %+v", l.State, l.Attempt, l.Attempts)
	}
	first, second := l.Attempts[0], l.Attempts[1]
	t.Logf("long: attempt 1 ended %q; attempt 2 resumed from %d of 150 (%d seen before)", first.Reason, second.ResumedFrom, seen)
	if first.Reason != "yielded for short" {
		t.Errorf("long's first attempt ended %q, want yielded for short", first.Reason)
	}
	if second.ResumedFrom < seen || second.ResumedFrom >= 100 {
		t.Errorf("long's second attempt resumed from %d, want the yield's checkpoint (≥ %d, < 100)", second.ResumedFrom, seen)
	}
}
