package taskengine

import (
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/task"
)

func TestUnacknowledgedResentThenRequeued(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("pi-a")
	h.submit(builtin("t1", 10))
	h.tick(DefaultAckTimeout - time.Second)
	if len(h.assignments()) != 0 {
		t.Fatal("re-sent before the ack timeout")
	}
	for i := 1; i <= DefaultAckResends; i++ {
		h.tick(time.Second)
		as := h.assignments()
		if len(as) != 1 || as[0].Op != task.AssignRun || as[0].Attempt != 1 || as[0].Node != "pi-a" {
			t.Fatalf("re-send %d: %+v", i, as)
		}
		h.advance(DefaultAckTimeout - time.Second)
	}
	// A second node joins: after the last re-send goes unanswered the
	// attempt is abandoned, its node told to cancel, and the task goes
	// elsewhere as attempt 2, using no retry.
	h.node("pi-b")
	h.tick(time.Second)
	as := h.assignments()
	if len(as) != 2 {
		t.Fatalf("want a cancel and a new run: %+v", as)
	}
	if as[0].Op != task.AssignCancel || as[0].Node != "pi-a" || as[0].Attempt != 1 {
		t.Fatalf("cancel %+v", as[0])
	}
	if as[1].Op != task.AssignRun || as[1].Node != "pi-b" || as[1].Attempt != 2 {
		t.Fatalf("run %+v", as[1])
	}
	got := h.task("t1")
	if got.Failures != 0 || got.Attempts[0].Reason != "not acknowledged" || got.Attempts[0].Ended.IsZero() {
		t.Fatalf("task %+v", got)
	}
	// An accepted event stops the re-sends.
	h.event("pi-b", "t1", 2, task.EventAccepted)
	h.tick(2 * DefaultAckTimeout)
	if len(h.assignments()) != 0 {
		t.Fatal("re-sent after the acknowledgement")
	}
}

func TestTimeoutRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.BackoffBase, o.BackoffCap = 10*time.Second, 15*time.Second })
	h.node("pi-a")
	spec := builtin("t1", 10)
	spec.Timeout = task.Duration(time.Minute)
	spec.Retries = 2
	h.submit(spec)
	h.event("pi-a", "t1", 1, task.EventRunning)

	h.tick(time.Minute - time.Second)
	if h.task("t1").State != task.StateRunning {
		t.Fatal("timed out early")
	}
	h.tick(time.Second)
	as := h.assignments()
	if len(as) != 1 || as[0].Op != task.AssignCancel || as[0].Attempt != 1 {
		t.Fatalf("timeout: %+v", as)
	}
	got := h.task("t1")
	if got.State != task.StatePending || got.Failures != 1 || !got.NotBefore.Equal(h.now.Add(10*time.Second)) ||
		!strings.HasPrefix(got.Attempts[0].Reason, "timed out") {
		t.Fatalf("after the timeout: %+v", got)
	}
	h.tick(10*time.Second - time.Millisecond)
	if len(h.assignments()) != 0 {
		t.Fatal("retried during the backoff")
	}
	h.tick(time.Millisecond)
	if as := h.assignments(); len(as) != 1 || as[0].Attempt != 2 {
		t.Fatalf("retry: %+v", as)
	}
	// The second failure waits twice the base, capped at 15 s.
	h.event("pi-a", "t1", 2, task.EventFailed, func(ev *task.Event) {
		ev.Error = "exit status 3"
		ev.Result = &task.Result{ExitCode: 3}
	})
	if got := h.task("t1"); got.Failures != 2 || !got.NotBefore.Equal(h.now.Add(15*time.Second)) {
		t.Fatalf("after the second failure: %+v", got)
	}
	h.tick(15 * time.Second)
	h.event("pi-a", "t1", 3, task.EventRunning)
	h.event("pi-a", "t1", 3, task.EventFailed, func(ev *task.Event) { ev.Error = "exit status 4" })
	got = h.task("t1")
	if got.State != task.StateFailed || got.Error != "exit status 4" || got.Failures != 3 || len(got.Attempts) != 3 {
		t.Fatalf("out of retries: %+v", got)
	}
}

func TestRefusedUsesRetryAndAvoidsNode(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.BackoffBase = time.Second })
	h.node("pi-a")
	h.node("pi-b", func(n *NodeState) { n.Cores = 1 })
	spec := builtin("t1", 10)
	spec.Retries = 1
	h.submit(spec)
	if a := h.assignments(); a[0].Node != "pi-a" {
		t.Fatalf("first on %s", a[0].Node)
	}
	h.event("pi-a", "t1", 1, task.EventRefused, func(ev *task.Event) { ev.Error = "command not allowed" })
	got := h.task("t1")
	if got.Failures != 1 || got.Avoid != "pi-a" || !strings.Contains(got.Attempts[0].Reason, "command not allowed") {
		t.Fatalf("after refusal: %+v", got)
	}
	h.tick(time.Second)
	if a := h.assignments(); len(a) != 1 || a[0].Node != "pi-b" {
		t.Fatalf("retry not elsewhere: %+v", a)
	}
}

func TestNodeCancelRequeuesWithoutRetry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("pi-a")
	h.submit(builtin("t1", 10))
	h.event("pi-a", "t1", 1, task.EventRunning)
	h.event("pi-a", "t1", 1, task.EventCancelled, func(ev *task.Event) { ev.Error = "agent shutting down" })
	got := h.task("t1")
	if got.Failures != 0 || got.Attempt != 2 || got.State != task.StateAssigned {
		t.Fatalf("after the node gave it up: %+v", got)
	}
}

// TestNodeLostResumesElsewhere: a node goes offline with a checkpointed
// task; past the grace the task moves to another node from the
// checkpoint, using no retry. The lost node's later events are recorded,
// never applied, and it is told to cancel when it is back.
func TestNodeLostResumesElsewhere(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("pi-a")
	spec := builtin("t1", 100)
	spec.Checkpointable = true
	h.submit(spec)
	h.event("pi-a", "t1", 1, task.EventRunning, func(ev *task.Event) { ev.Total = 100 })
	h.event("pi-a", "t1", 1, task.EventCheckpoint, func(ev *task.Event) {
		ev.Progress, ev.Total, ev.Checkpoint = 40, 100, []byte("state@40")
	})
	h.event("pi-a", "t1", 1, task.EventRunning, func(ev *task.Event) { ev.Progress, ev.Total = 55, 100 })
	if st, _ := h.status("t1"); st.Progress != 55 {
		t.Fatalf("progress %d", st.Progress)
	}
	h.node("pi-b")
	h.offline("pi-a")
	h.tick(DefaultGrace - time.Second)
	if h.task("t1").State != task.StateRunning {
		t.Fatal("re-queued within the grace")
	}
	h.tick(time.Second)
	as := h.assignments()
	if len(as) != 1 || as[0].Node != "pi-b" || as[0].Attempt != 2 || string(as[0].Checkpoint) != "state@40" || as[0].Progress != 40 {
		t.Fatalf("resume: %+v", as)
	}
	got := h.task("t1")
	if got.Failures != 0 || got.Progress != 40 || got.Attempts[0].Reason != "node lost" || got.Attempts[1].ResumedFrom != 40 {
		t.Fatalf("after the loss: %+v", got)
	}
	if len(h.e.fences["pi-a"]) != 1 {
		t.Fatalf("no fence for the lost attempt: %+v", h.e.fences)
	}

	// The lost node's outbox delivers a checkpoint and a success of the
	// stale attempt: recorded, not applied.
	h.event("pi-a", "t1", 1, task.EventCheckpoint, func(ev *task.Event) {
		ev.Progress, ev.Total, ev.Checkpoint = 90, 100, []byte("state@90")
	})
	if as := h.assignments(); len(as) != 1 || as[0].Op != task.AssignCancel || as[0].Node != "pi-a" || as[0].Attempt != 1 {
		t.Fatalf("a stale event must bring a cancel: %+v", as)
	}
	if en := h.e.tasks["t1"]; string(en.cp.Data) != "state@40" {
		t.Fatal("a stale checkpoint was applied")
	}
	h.event("pi-a", "t1", 1, task.EventSucceeded, func(ev *task.Event) { ev.Result = &task.Result{Output: "stale"} })
	got = h.task("t1")
	if got.State != task.StateAssigned || got.Result != nil || got.Attempts[0].State != task.EventSucceeded {
		t.Fatalf("stale success applied: %+v", got)
	}
	if len(h.e.fences) != 0 {
		t.Fatal("fence kept after the stale attempt ended")
	}
	h.event("pi-b", "t1", 2, task.EventRunning, func(ev *task.Event) { ev.Progress, ev.Total, ev.Resumed = 40, 100, true })
	h.event("pi-b", "t1", 2, task.EventSucceeded, func(ev *task.Event) {
		ev.Progress, ev.Total, ev.Result = 100, 100, &task.Result{Output: "right"}
	})
	if got := h.task("t1"); got.State != task.StateSucceeded || got.Result.Output != "right" {
		t.Fatalf("final: %+v", got)
	}
}

// TestLostNodeBackGetsCancel: the node of a fenced attempt is sent the
// cancel when it comes back, up to maxFenceSends returns.
func TestLostNodeBackGetsCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("pi-a")
	h.submit(builtin("t1", 10))
	h.event("pi-a", "t1", 1, task.EventRunning)
	h.offline("pi-a")
	h.tick(DefaultGrace)
	if got := h.task("t1"); got.State != task.StatePending || got.Attempt != 1 {
		t.Fatalf("after the loss with no other node: %+v", got)
	}
	for i := 1; i <= maxFenceSends; i++ {
		h.node("pi-a", func(n *NodeState) { n.Instance = "back" + string(rune('0'+i)) })
		as := h.assignments()
		// The node is back: it gets the stale attempt's cancel, then the
		// task again as attempt 2 (first return only).
		if len(as) == 0 || as[0].Op != task.AssignCancel || as[0].Attempt != 1 {
			t.Fatalf("return %d: %+v", i, as)
		}
		if i == 1 && (len(as) != 2 || as[1].Op != task.AssignRun || as[1].Attempt != 2) {
			t.Fatalf("return %d: %+v", i, as)
		}
		h.offline("pi-a")
	}
	h.node("pi-a", func(n *NodeState) { n.Instance = "again" })
	for _, a := range h.assignments() {
		if a.Op == task.AssignCancel && a.Attempt == 1 {
			t.Fatal("cancel sent more than maxFenceSends times")
		}
	}
	if len(h.e.fences) != 0 {
		t.Fatalf("fence not dropped: %+v", h.e.fences)
	}
}

// TestRestartReload: the store is closed after every commit (a SIGKILL
// loses nothing committed) and reopened: unfinished tasks come back with
// their statuses re-published, assigned ones re-sent, running ones left
// running, fences and checkpoints kept.
func TestRestartReload(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("pi-a")
	spec := builtin("run", 100)
	spec.Checkpointable = true
	h.submit(spec)
	h.event("pi-a", "run", 1, task.EventCheckpoint, func(ev *task.Event) {
		ev.Progress, ev.Total, ev.Checkpoint = 30, 100, []byte("cp30")
	})
	h.submit(builtin("asg", 10))
	pend := builtin("pend", 10)
	pend.Constraints.Tier = task.TierCloud // no such node: stays pending
	h.submit(pend)
	h.cancel("pend")
	h.submit(builtin("cancelme", 10))
	h.event("pi-a", "cancelme", 1, task.EventRunning)
	h.cancel("cancelme") // fenced on pi-a
	h.offline("pi-a")

	h.restart()
	if len(h.ld.Active) != 4 || len(h.ld.Fences) != 1 || h.ld.Checkpoints["run"] == nil {
		t.Fatalf("loaded %d tasks, %d fences, checkpoints %v", len(h.ld.Active), len(h.ld.Fences), h.ld.Checkpoints)
	}
	for id, want := range map[string]string{"run": task.StateRunning, "asg": task.StateAssigned,
		"pend": task.StateCancelled, "cancelme": task.StateCancelled} {
		st, ok := h.status(id)
		if !ok || st.State != want {
			t.Errorf("%s: re-published %v %+v, want %s", id, ok, st, want)
		}
	}
	// Both live attempts are sent again: the assigned one may never have
	// left, and the running one's last events may have died with the
	// scheduler after the broker acknowledged them (the agent answers
	// with the attempt's current state).
	as := h.assignments()
	sent := map[string]bool{}
	for _, a := range as {
		sent[a.Task] = a.Op == task.AssignRun && a.Attempt == 1
	}
	if len(as) != 2 || !sent["asg"] || !sent["run"] {
		t.Fatalf("re-sent: %+v", as)
	}
	if n := h.e.nodes["pi-a"]; n.Tasks != 2 || n.Online {
		t.Fatalf("pi-a after the restart: %+v", n)
	}
	// The node is back within the grace: the fenced attempt is cancelled,
	// the running task keeps running and finishes.
	h.node("pi-a")
	if as := h.assignments(); len(as) != 1 || as[0].Task != "cancelme" || as[0].Op != task.AssignCancel {
		t.Fatalf("on return: %+v", as)
	}
	h.event("pi-a", "run", 1, task.EventSucceeded, func(ev *task.Event) { ev.Result = &task.Result{Output: "x"} })
	if got := h.task("run"); got.State != task.StateSucceeded {
		t.Fatalf("run: %+v", got)
	}
}

// TestRestartUnknownNodeLost: after a restart, a node that tasks
// reference but the fleet never reports is lost once the grace passed.
func TestRestartUnknownNodeLost(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("pi-a")
	h.submit(builtin("t1", 10))
	h.event("pi-a", "t1", 1, task.EventRunning)
	h.restart()
	h.node("pi-b")
	h.tick(DefaultGrace)
	if as := h.assignments(); len(as) != 1 || as[0].Node != "pi-b" || as[0].Attempt != 2 {
		t.Fatalf("after the grace: %+v", as)
	}
}

// TestFinishedAnnouncedThenMoved: a finished task stays under a/ until
// its final status is acknowledged, so a restart in between announces it
// again; then it moves to f/ and leaves memory.
func TestFinishedAnnouncedThenMoved(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("pi-a")
	h.submit(builtin("t1", 10))
	h.event("pi-a", "t1", 1, task.EventSucceeded)
	var final Message
	for _, m := range h.msgs {
		if m.Finished == "t1" {
			final = m
		}
	}
	if final.Topic != h.opts.Topics.TaskStatus("t1") {
		t.Fatalf("no final status marked: %s", h.dump())
	}
	h.restart()
	if st, ok := h.status("t1"); !ok || st.State != task.StateSucceeded {
		t.Fatalf("final status not announced again: %s", h.dump())
	}
	h.do(func(e *Engine) { e.Announced("t1") })
	if _, ok := h.e.tasks["t1"]; ok {
		t.Fatal("finished task kept in memory")
	}
	h.restart()
	msgs := 0
	for _, m := range h.msgs {
		if m.Topic != h.opts.Topics.TaskQuarantine() { // a start announces the nodes in quarantine: none
			msgs++
		}
	}
	if len(h.ld.Active) != 0 || msgs != 0 {
		t.Fatalf("after the move: %d active, %s", len(h.ld.Active), h.dump())
	}
	if got := h.task("t1"); got.State != task.StateSucceeded {
		t.Fatalf("finished: %+v", got)
	}
}

// TestRedeliveredEventsAfterEnd: after a restart the agents' outboxes
// deliver again what they had not had acknowledged. Events of an attempt
// its node reported ended change nothing; a non-final one brings a cancel
// (the scheduler cannot tell it from a node running the attempt again),
// whose answer ends the fence.
func TestRedeliveredEventsAfterEnd(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.BackoffBase = time.Second })
	h.node("pi-a")
	spec := builtin("t1", 10)
	spec.Retries = 1
	h.submit(spec)
	h.event("pi-a", "t1", 1, task.EventRunning)
	h.event("pi-a", "t1", 1, task.EventFailed, func(ev *task.Event) { ev.Error = "exit status 1" })
	h.restart()
	h.node("pi-a")
	h.event("pi-a", "t1", 1, task.EventAccepted)
	if as := h.assignments(); len(as) != 1 || as[0].Op != task.AssignCancel || as[0].Attempt != 1 {
		t.Fatalf("accepted again: %+v", as)
	}
	if ms := h.event("pi-a", "t1", 1, task.EventRunning); len(ms) != 0 {
		t.Fatalf("a second cancel within the ack timeout: %s", h.dump())
	}
	h.event("pi-a", "t1", 1, task.EventFailed, func(ev *task.Event) { ev.Error = "exit status 1" })
	got := h.task("t1")
	if got.Failures != 1 || got.Attempts[0].State != task.EventFailed || len(h.e.fences) != 0 {
		t.Fatalf("after the redelivery: %+v, fences %v", got, h.e.fences)
	}
}
