package runner

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/task"
)

func yieldAssignment(id string, attempt uint32) task.Assignment {
	a := cancelAssignment(id, attempt)
	a.Op = task.AssignYield
	return a
}

// TestYieldCheckpointsABuiltinThenEndsIt: a yield stops a running
// checkpointable builtin whose periodic checkpoint is far off, after a
// checkpoint of the units it did — journaled and sent like any other —
// and reports it yielded at that progress. An attempt that resumes from
// that checkpoint gives the output of a run straight through.
func TestYieldCheckpointsABuiltinThenEndsIt(t *testing.T) {
	f := newFixture(t, nil)
	spec := sleepSpec(400, 10, 300, true)
	f.submit(assignment("long", 1, spec))
	f.waitState("long", 1, task.EventRunning)
	time.Sleep(300 * time.Millisecond) // kept: some 30 units run, far from the checkpoint at 300 (a time, not an event, is what places the yield)
	f.submit(yieldAssignment("long", 1))
	y := f.waitState("long", 1, task.EventYielded)
	evs := of(f.events(), "long")
	if got := states(evs); !cmp.Equal(got, []string{"accepted", "running", "checkpoint", "yielded"}) {
		t.Fatalf("events %v", got)
	}
	cp := evs[2]
	if cp.Progress < 5 || cp.Progress >= 300 || cp.Total != 400 || y.Progress != cp.Progress || y.Total != 400 {
		t.Fatalf("checkpoint at %d of %d, yielded at %d of %d", cp.Progress, cp.Total, y.Progress, y.Total)
	}
	s, err := decodeBuiltinState(cp.Checkpoint, 400)
	if err != nil || s.done != cp.Progress {
		t.Fatalf("the checkpoint sent is at %d (%v), the event says %d", s.done, err, cp.Progress)
	}
	if !strings.Contains(y.Error, "yielded") {
		t.Errorf("yielded event's error %q", y.Error)
	}
	f.submit(yieldAssignment("long", 1)) // again: answered with the end
	f.waitFor("long", func(e task.Event) bool { return len(of(f.events(), "long")) == 5 })
	if last := of(f.events(), "long")[4]; last.State != task.EventYielded || last.Progress != cp.Progress {
		t.Fatalf("a repeated yield was answered %+v", last)
	}

	a := assignment("long", 2, spec)
	a.Checkpoint, a.Progress = cp.Checkpoint, cp.Progress
	f.submit(a)
	r := f.waitState("long", 2, task.EventRunning)
	done := f.waitState("long", 2, task.EventSucceeded)
	if !r.Resumed || r.Progress != cp.Progress || done.Result.Output != expected(*spec.Builtin) ||
		done.Result.WorkDone != 400-cp.Progress {
		t.Fatalf("resumed %v at %d; ended with %+v", r.Resumed, r.Progress, done.Result)
	}
}

// TestYieldOfAQueuedOrUnknownAttempt: a queued attempt yields without
// running (no checkpoint: it did nothing); an unknown one is answered
// cancelled, as a cancel is.
func TestYieldOfAQueuedOrUnknownAttempt(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Slots = 1 })
	f.submit(assignment("busy", 1, sleepSpec(1000, 10, 0, false)))
	f.submit(assignment("queued", 1, sleepSpec(10, 1, 1, true)))
	f.waitState("busy", 1, task.EventRunning)
	f.waitState("queued", 1, task.EventAccepted)
	f.submit(yieldAssignment("queued", 1))
	f.waitState("queued", 1, task.EventYielded)
	f.submit(yieldAssignment("nobody", 2))
	if e := f.waitState("nobody", 2, task.EventCancelled); !strings.Contains(e.Error, "not known") {
		t.Fatalf("yield of an unknown task answered %+v", e)
	}
	if got := states(of(f.events(), "queued")); !cmp.Equal(got, []string{"accepted", "yielded"}) {
		t.Fatalf("queued: %v (it must never run)", got)
	}
	f.submit(cancelAssignment("busy", 1))
	f.waitState("busy", 1, task.EventCancelled)
}
