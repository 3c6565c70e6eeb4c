package taskengine

import (
	"fmt"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/task"
)

// TestIntervalsIgnoreWallClockSteps: the wall clock stepped forward or
// back by two hours (NTP on a scheduler without a real-time clock) moves
// none of the engine's intervals: an assignment is sent again after the
// acknowledgement timeout, a retry waits its backoff, an attempt is ended
// at its start timeout or its spec's timeout, a lost node's tasks move
// after the grace, and a quarantine lasts its length — neither earlier
// nor later than without the step.
func TestIntervalsIgnoreWallClockSteps(t *testing.T) {
	t.Parallel()
	type interval struct {
		name  string
		bound time.Duration
		mods  func(*Options)
		// setup starts the interval; fired reports whether it ended.
		setup func(h *harness)
		fired func(h *harness) bool
	}
	onA := func(h *harness, spec task.Spec) {
		h.t.Helper()
		h.node("a", func(n *NodeState) { n.TaskSlots = 1 })
		h.submit(spec)
		if got := h.task(spec.ID); got.Node != "a" {
			h.t.Fatalf("%s on %q, want a", spec.ID, got.Node)
		}
	}
	timed := builtin("timed", 100)
	timed.Timeout = task.Duration(time.Minute)
	retried := builtin("retried", 100)
	retried.Retries = 1
	intervals := []interval{
		{name: "ack timeout", bound: DefaultAckTimeout,
			setup: func(h *harness) { onA(h, builtin("x", 100)) },
			fired: func(h *harness) bool { return h.task("x").Sends > 1 }},
		{name: "backoff", bound: DefaultBackoffBase,
			setup: func(h *harness) {
				onA(h, retried)
				h.event("a", "retried", 1, task.EventFailed, func(ev *task.Event) { ev.Error = "exit 1" })
				if got := h.task("retried"); got.State != task.StatePending {
					h.t.Fatalf("after a failure: %s, want pending", got.State)
				}
			},
			fired: func(h *harness) bool { return h.task("retried").Attempt == 2 }},
		{name: "start timeout", bound: DefaultStartTimeout,
			setup: func(h *harness) {
				onA(h, ckpt("x"))
				h.event("a", "x", 1, task.EventAccepted)
			},
			fired: func(h *harness) bool { return h.task("x").Attempt > 1 || h.task("x").State == task.StatePending }},
		{name: "spec timeout", bound: time.Minute,
			setup: func(h *harness) {
				onA(h, timed)
				h.event("a", "timed", 1, task.EventRunning)
			},
			fired: func(h *harness) bool { return h.task("timed").State != task.StateRunning }},
		{name: "grace", bound: DefaultGrace,
			setup: func(h *harness) {
				onA(h, builtin("x", 100))
				h.event("a", "x", 1, task.EventRunning)
				h.offline("a")
			},
			fired: func(h *harness) bool { return h.task("x").State == task.StatePending }},
		{name: "quarantine", bound: DefaultQuarantine,
			mods: func(o *Options) { o.QuarantineAfter = 1 },
			setup: func(h *harness) {
				onA(h, ckpt("x"))
				h.event("a", "x", 1, task.EventAccepted)
				h.tick(DefaultStartTimeout)
				if _, ok := h.e.Quarantined()["a"]; !ok {
					h.t.Fatal("a failing node was not quarantined")
				}
			},
			fired: func(h *harness) bool { _, ok := h.e.Quarantined()["a"]; return !ok }},
	}
	for _, step := range []time.Duration{2 * time.Hour, -2 * time.Hour} {
		for _, iv := range intervals {
			t.Run(fmt.Sprintf("%s/step %v", iv.name, step), func(t *testing.T) {
				var mods []func(*Options)
				if iv.mods != nil {
					mods = append(mods, iv.mods)
				}
				h := newHarness(t, mods...)
				iv.setup(h)
				h.stepWall(step)
				h.tick(iv.bound - time.Second)
				if iv.fired(h) {
					t.Fatalf("ended %v early, after the wall clock stepped %v", time.Second, step)
				}
				h.tick(time.Second)
				if !iv.fired(h) {
					t.Fatalf("not ended at its bound %v, after the wall clock stepped %v", iv.bound, step)
				}
			})
		}
	}
}

// TestStatusesSurviveAWallClockStepBack: the wall clock stepped back two
// hours after a task was submitted (NTP correcting a scheduler that booted
// with a clock ahead). Every status the engine announces still decodes —
// updated never before submitted, an attempt never ending before it was
// assigned — and the last one says succeeded. Before, updated took the
// stepped time, every later status failed validation, and monitors and the
// CLI kept the task's last status from before the step forever.
func TestStatusesSurviveAWallClockStepBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("a", func(n *NodeState) { n.TaskSlots = 1 })
	h.submit(builtin("x", 100))
	before := h.task("x").Updated
	h.stepWall(-2 * time.Hour)
	h.advance(time.Second)
	h.event("a", "x", 1, task.EventRunning)
	if st, ok := h.status("x"); !ok || st.State != task.StateRunning {
		t.Fatalf("after the step: status %+v (announced %v), want running", st, ok)
	}
	h.advance(time.Second)
	h.event("a", "x", 1, task.EventSucceeded, func(ev *task.Event) { ev.Result = &task.Result{Output: "ok"} })
	st, ok := h.status("x")
	if !ok || st.State != task.StateSucceeded {
		t.Fatalf("final status %+v (announced %v), want succeeded", st, ok)
	}
	if st.Updated.Before(before) {
		t.Fatalf("updated went back from %v to %v", before, st.Updated)
	}
	if a := st.Attempts[len(st.Attempts)-1]; a.Ended.Before(a.Assigned) {
		t.Fatalf("attempt ended %v before it was assigned %v", a.Ended, a.Assigned)
	}
}
