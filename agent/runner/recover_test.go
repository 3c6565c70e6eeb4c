package runner

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/task"
)

// lastCheckpointBefore returns the last checkpoint event of the task before
// its first resumed running event.
func lastCheckpointBefore(evs []task.Event) task.Event {
	var last task.Event
	for _, e := range evs {
		if e.State == task.EventRunning && e.Resumed {
			break
		}
		if e.State == task.EventCheckpoint {
			last = e
		}
	}
	return last
}

// TestRestartResumesFromTheCheckpoint loses the store under a running
// task, as a power cut would, then starts again on it: the task resumes
// from its last journaled checkpoint, not from zero, and its output is
// the one of a run without interruption.
func TestRestartResumesFromTheCheckpoint(t *testing.T) {
	f := newFixture(t, nil)
	spec := sleepSpec(300, 10, 5, true) // 3 s: the restart comes long before the end
	f.submit(assignment("r1", 1, spec))
	f.waitFor("r1", func(e task.Event) bool { return e.State == task.EventCheckpoint && e.Progress >= 15 })
	f.closeStore() // mid-task: the runner's next writes fail
	f.stop()
	f.openStore()
	f.start()
	resumed := f.waitFor("r1", func(e task.Event) bool { return e.State == task.EventRunning && e.Resumed })
	last := lastCheckpointBefore(of(f.events(), "r1"))
	if resumed.Progress < 15 || resumed.Progress != last.Progress || resumed.Total != 300 {
		t.Fatalf("resumed at %d of %d; the last checkpoint journaled was at %d", resumed.Progress, resumed.Total, last.Progress)
	}
	done := f.waitState("r1", 1, task.EventSucceeded)
	if want := expected(*spec.Builtin); done.Result.Output != want {
		t.Fatalf("output %s after a resume, want %s", done.Result.Output, want)
	}
	if done.Result.WorkDone != 300-resumed.Progress {
		t.Fatalf("work done %d by the resumed run, want %d", done.Result.WorkDone, 300-resumed.Progress)
	}
}

// TestRestartRunsANonCheckpointableBuiltinAgain: a builtin that keeps no
// checkpoint starts again from zero after a restart (it is deterministic,
// so the result is the same as if it had not been interrupted).
func TestRestartRunsANonCheckpointableBuiltinAgain(t *testing.T) {
	f := newFixture(t, nil)
	f.submit(assignment("r2", 1, sleepSpec(1000, 10, 0, false)))
	f.waitState("r2", 1, task.EventRunning)
	f.restart()
	again := f.waitFor("r2", func(e task.Event) bool { return e.State == task.EventRunning && len(of(f.events(), "r2")) >= 3 })
	if again.Resumed || again.Progress != 0 || again.Total != 1000 {
		t.Fatalf("started again with resumed=%v at %d of %d, want from zero of 1000", again.Resumed, again.Progress, again.Total)
	}
	f.submit(cancelAssignment("r2", 1))
	f.waitState("r2", 1, task.EventCancelled)
	if got := states(of(f.events(), "r2")); !cmp.Equal(got, []string{"accepted", "running", "running", "cancelled"}) {
		t.Fatalf("events %v", got)
	}
}

func TestRestartQueuesAcceptedTasksAgain(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Slots = 1 })
	f.submit(assignment("busy", 1, sleepSpec(1000, 10, 0, false)))
	f.submit(assignment("waiting", 1, sleepSpec(2, 1, 0, false)))
	f.waitState("waiting", 1, task.EventAccepted)
	f.restart()
	f.submit(cancelAssignment("busy", 1))
	f.waitState("waiting", 1, task.EventSucceeded)
	if got := states(of(f.events(), "waiting")); len(got) != 3 {
		t.Fatalf("waiting: %v, want accepted, running, succeeded", got)
	}
}

// TestResumeElsewhereFromTheEventsCheckpoint is what the scheduler does
// when a node is lost: it cancels the attempt and assigns the next one
// with the checkpoint of the last checkpoint event. The output is the one
// of a run without interruption.
func TestResumeElsewhereFromTheEventsCheckpoint(t *testing.T) {
	f := newFixture(t, nil)
	spec := sleepSpec(300, 10, 10, true)
	f.submit(assignment("moved", 1, spec))
	cp := f.waitFor("moved", func(e task.Event) bool { return e.State == task.EventCheckpoint && e.Progress >= 30 })
	f.submit(cancelAssignment("moved", 1))
	f.waitState("moved", 1, task.EventCancelled)
	next := assignment("moved", 2, spec)
	next.Checkpoint, next.Progress = cp.Checkpoint, cp.Progress
	f.submit(next)
	resumed := f.waitState("moved", 2, task.EventRunning)
	if !resumed.Resumed || resumed.Progress != cp.Progress {
		t.Fatalf("attempt 2 started resumed=%v at %d, want from %d", resumed.Resumed, resumed.Progress, cp.Progress)
	}
	done := f.waitState("moved", 2, task.EventSucceeded)
	if want := expected(*spec.Builtin); done.Result.Output != want || done.Result.WorkDone != 300-cp.Progress {
		t.Fatalf("output %s, work done %d; want %s, %d", done.Result.Output, done.Result.WorkDone, want, 300-cp.Progress)
	}
}
