package e2e

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/agent/runner"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// taskSite is a site whose scheduler signs assignments and whose agents
// pin its key.
type taskSite struct {
	*site
	key, pub string
}

func newTaskSite(t *testing.T) *taskSite {
	t.Helper()
	s := newSite(t)
	s.addUser("operator")
	key := filepath.Join(s.dir, "scheduler.key")
	out, err := exec.Command(s.broker, "keygen", "-o", key).Output()
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	return &taskSite{site: s, key: key, pub: strings.TrimSpace(string(out))}
}

func (s *taskSite) startScheduler(extra ...string) *proc {
	return s.site.startScheduler(append([]string{"--signing-key-file", s.key}, extra...)...)
}

func (s *taskSite) startAgent(node string, extra ...string) *proc {
	return s.site.startAgent(node, append([]string{"--scheduler-key", s.pub}, extra...)...)
}

// mixedSpecs makes n builtin tasks: cpu and sleep, short and longer, half
// of them checkpointable.
func mixedSpecs(rng *rand.Rand, n int) []task.Spec {
	specs := make([]task.Spec, n)
	for i := range specs {
		s := task.Spec{ID: fmt.Sprintf("e2e-%03d", i), Kind: task.KindBuiltin, Checkpointable: i%2 == 0, Retries: 2}
		if i%3 == 0 {
			units := int64(20 + rng.IntN(60))
			s.Builtin = &task.Builtin{Name: task.BuiltinSleep, Units: units, UnitMS: 50, CheckpointEvery: 5}
			s.Work = float64(units) * 0.05
		} else {
			units := int64(20 + rng.IntN(100))
			s.Builtin = &task.Builtin{Name: task.BuiltinCPU, Units: units, UnitMS: 5, CheckpointEvery: 10}
			s.Work = float64(units) * 0.005
		}
		specs[i] = s
	}
	return specs
}

// TestTasksEndToEnd: a scheduler and three agents run 300 mixed builtin
// tasks; mid-run one agent is SIGKILLed and restarted, then the scheduler
// is SIGKILLed and restarted. Every task must end succeeded with its
// correct output and exactly one applied result, and the killed agent's
// checkpointable tasks must resume from their last checkpoint rather than
// from the start.
func TestTasksEndToEnd(t *testing.T) {
	t.Parallel()
	const n = 300
	s := newTaskSite(t)
	s.startScheduler()
	op := newOperator(t, s.site)
	nodes := []string{"pi-t1", "pi-t2", "pi-t3"}
	agents := map[string]*proc{}
	for _, node := range nodes {
		agents[node] = s.startAgent(node, "--task-slots", "3", "--sample-interval", "1s")
	}
	s.waitFleet(20*time.Second, "three agents online", func(m map[string]protocol.FleetNode) bool {
		return m["pi-t1"].Online && m["pi-t2"].Online && m["pi-t3"].Online
	})

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	specs := mixedSpecs(rand.New(rand.NewPCG(seed, seed)), n)
	byID := map[string]task.Spec{}
	for _, spec := range specs {
		byID[spec.ID] = spec
		if r := op.submit(spec); !r.OK || r.Task != spec.ID {
			t.Fatalf("submit %s: %+v", spec.ID, r)
		}
	}
	// Submitting again is idempotent.
	if r := op.submit(specs[0]); !r.OK || !r.Existing {
		t.Fatalf("second submission of %s: %+v, want existing", specs[0].ID, r)
	}

	// Kill an agent while it runs checkpointable tasks that made progress.
	victim := "pi-t2"
	before := op.waitTasks(2*time.Minute, "two tasks with checkpointed progress on "+victim, func(m map[string]task.Status) bool {
		running := 0
		for _, st := range m {
			if st.Node == victim && st.State == task.StateRunning && byID[st.Task].Checkpointable && st.Progress > 0 {
				running++
			}
		}
		return running >= 2
	})
	killed := time.Now()
	agents[victim].signal(syscall.SIGKILL)
	<-agents[victim].done
	interrupted := map[string]int64{} // task → progress the scheduler had seen
	for id, st := range before {
		if st.Node == victim && st.State == task.StateRunning && byID[id].Checkpointable {
			interrupted[id] = st.Progress
		}
	}
	t.Logf("SIGKILLed %s with %d checkpointable tasks running: %v", victim, len(interrupted), interrupted)
	time.Sleep(time.Second) // kept: the agent stays down a while, as after a crash
	agents[victim] = s.startAgent(victim, "--task-slots", "3", "--sample-interval", "1s")

	// Then the scheduler, once more tasks are done.
	op.waitTasks(3*time.Minute, "a third of the tasks done", func(m map[string]task.Status) bool {
		done := 0
		for _, st := range m {
			if task.Terminal(st.State) {
				done++
			}
		}
		return done >= n/3
	})
	s.scheduler.signal(syscall.SIGKILL)
	<-s.scheduler.done
	t.Log("SIGKILLed the scheduler")
	time.Sleep(time.Second) // kept: the scheduler stays down a while, as after a crash
	s.startScheduler()

	final := op.waitTasks(6*time.Minute, "every task ended", func(m map[string]task.Status) bool {
		if len(m) < n {
			return false
		}
		for _, st := range m {
			if !task.Terminal(st.State) {
				return false
			}
		}
		return true
	})

	resumed, attempts := 0, 0
	for _, spec := range specs {
		st := final[spec.ID]
		attempts += len(st.Attempts)
		if st.State != task.StateSucceeded {
			t.Errorf("%s ended %s: %s (attempts %+v)", spec.ID, st.State, st.Error, st.Attempts)
			continue
		}
		want, err := runner.BuiltinOutput(*spec.Builtin)
		if err != nil {
			t.Fatal(err)
		}
		if st.Result == nil || st.Result.Output != want {
			t.Errorf("%s: result %+v, want output %s", spec.ID, st.Result, want)
			continue
		}
		if n := appliedSuccesses(st); n != 1 {
			t.Errorf("%s: %d successes applied, want exactly one: %+v", spec.ID, n, st.Attempts)
		}
		if a := st.Attempts[len(st.Attempts)-1]; !a.Ended.IsZero() && a.Ended.Before(killed) {
			// Running at the snapshot but done before the kill (the
			// scheduler recorded its end first): never interrupted.
			delete(interrupted, spec.ID)
		}
		if seen, ok := interrupted[spec.ID]; ok {
			// Resumed from a checkpoint at least as far as the scheduler had
			// seen: the work redone is below one checkpoint interval.
			from := spec.Builtin.Units - st.Result.WorkDone
			if from < seen {
				t.Errorf("%s: resumed from %d, but %d units had been checkpointed before the kill", spec.ID, from, seen)
			}
			if from > 0 {
				resumed++
			}
		}
	}
	t.Logf("%d tasks succeeded in %d attempts; %d of the %d interrupted checkpointable tasks resumed from a checkpoint",
		n, attempts, resumed, len(interrupted))
	if len(interrupted) > 0 && resumed == 0 {
		t.Error("no interrupted task resumed from a checkpoint")
	}
}

// appliedSuccesses counts the attempts whose success ended the task: the
// current attempt, ended by its own success. A stale attempt's success
// (its node was lost, or it was cancelled, before it reported) is recorded
// in its history with the reason it had ended, and never applied.
func appliedSuccesses(st task.Status) int {
	n := 0
	for _, a := range st.Attempts {
		if a.State == task.EventSucceeded && a.Reason == "" {
			n++
			if a.N != st.Attempt {
				return -1 // a success applied from an attempt that is not the task's
			}
		}
	}
	return n
}
