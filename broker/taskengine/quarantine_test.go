package taskengine

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/task"
)

// ckpt is a checkpointable builtin of 100 units of 10 ms, checkpointing
// every 10 units: 100 ms between checkpoints on a reference core, so
// its progress bound is ProgressTimeout.
func ckpt(id string) task.Spec {
	s := builtin(id, 100)
	s.Checkpointable = true
	s.Builtin.CheckpointEvery = 10
	return s
}

// TestLifelessAttemptsRequeued: an attempt accepted but never started,
// and one running a checkpointable task that reports no progress, are
// ended within their bounds and re-queued on another node without using
// a retry; an honest node that checkpoints keeps its attempt.
func TestLifelessAttemptsRequeued(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("a-liar", func(n *NodeState) { n.TaskSlots = 2 })
	h.submit(ckpt("never-starts"))
	h.submit(ckpt("never-progresses"))
	for _, id := range []string{"never-starts", "never-progresses"} {
		if got := h.task(id); got.Node != "a-liar" {
			t.Fatalf("%s on %q, want a-liar", id, got.Node)
		}
	}
	h.event("a-liar", "never-starts", 1, task.EventAccepted)
	h.event("a-liar", "never-progresses", 1, task.EventRunning)
	h.node("b-honest", func(n *NodeState) { n.TaskSlots = 2 })
	h.tick(DefaultStartTimeout - time.Second)
	for _, id := range []string{"never-starts", "never-progresses"} {
		if got := h.task(id); got.Node != "a-liar" || got.Attempt != 1 {
			t.Fatalf("%s ended before its bound: %+v", id, got.Attempts)
		}
	}
	h.tick(time.Second)
	for id, reason := range map[string]string{"never-starts": "not started", "never-progresses": "no progress"} {
		got := h.task(id)
		if got.Node != "b-honest" || got.Attempt != 2 || got.Failures != 0 || !strings.Contains(got.Attempts[0].Reason, reason) {
			t.Fatalf("%s: node %s attempt %d failures %d, first attempt ended %q; want on b-honest, attempt 2, no retry used, %q",
				id, got.Node, got.Attempt, got.Failures, got.Attempts[0].Reason, reason)
		}
	}
	// The honest node checkpoints within the bound: its attempt stays.
	h.event("b-honest", "never-progresses", 2, task.EventRunning)
	for i := 1; i <= 5; i++ {
		h.tick(DefaultProgressTimeout - time.Second)
		h.event("b-honest", "never-progresses", 2, task.EventCheckpoint, func(ev *task.Event) {
			ev.Progress, ev.Total = int64(10*i), 100
		})
	}
	if got := h.task("never-progresses"); got.Attempt != 2 || got.State != task.StateRunning {
		t.Fatalf("an attempt that checkpoints was ended: %+v", got.Attempts)
	}
}

// TestQuarantine: a node whose attempts fail QuarantineAfter times in a
// row gets no new task until its quarantine ends or an operator releases
// it; a success between failures clears the count.
func TestQuarantine(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("liar", func(n *NodeState) { n.TaskSlots = 1 })
	fail := func(id string) {
		t.Helper()
		h.submit(ckpt(id))
		if got := h.task(id); got.Node != "liar" {
			t.Fatalf("%s on %q, want liar", id, got.Node)
		}
		h.event("liar", id, 1, task.EventAccepted)
		h.tick(DefaultStartTimeout)
		h.cancel(id) // re-queued and pending: out of the way
	}
	fail("f1")
	fail("f2")
	h.submit(builtin("ok", 1))
	h.event("liar", "ok", 1, task.EventSucceeded, func(ev *task.Event) { ev.Result = &task.Result{} })
	fail("f3")
	if q := h.e.Quarantined(); len(q) != 0 {
		t.Fatalf("quarantined after 2 failures, a success, 1 failure: %v", q)
	}
	fail("f4")
	fail("f5")
	q := h.e.Quarantined()
	if until, ok := q["liar"]; !ok || !until.Equal(h.now.Add(DefaultQuarantine)) {
		t.Fatalf("quarantined %v, want liar until %v", q, h.now.Add(DefaultQuarantine))
	}
	h.submit(builtin("waits", 1))
	if got := h.task("waits"); got.State != task.StatePending {
		t.Fatalf("a task was placed on a quarantined node: %+v", got)
	}
	h.tick(DefaultQuarantine - time.Second)
	if got := h.task("waits"); got.State != task.StatePending {
		t.Fatalf("quarantine ended early: %+v", got)
	}
	h.tick(time.Second)
	if got := h.task("waits"); got.State != task.StateAssigned || got.Node != "liar" {
		t.Fatalf("after the quarantine: %s on %q", got.State, got.Node)
	}
	for range 3 {
		h.event("liar", "waits", h.task("waits").Attempt, task.EventAccepted)
		h.tick(DefaultStartTimeout)
	}
	if _, ok := h.e.Quarantined()["liar"]; !ok {
		t.Fatal("not quarantined again after 3 more failures")
	}
	if !h.e.Release("liar") || h.e.Release("liar") {
		t.Fatal("Release: want true once, then false")
	}
	h.do(func(*Engine) {})
	if got := h.task("waits"); got.State != task.StateAssigned || got.Node != "liar" {
		t.Fatalf("after release: %s on %q", got.State, got.Node)
	}
}

// TestQuarantineSurvivesRestart: a node in quarantine is still in
// quarantine, until the same time, after the scheduler restarts on its
// store — no task is placed there before the end — and a release is kept
// across a restart as well.
func TestQuarantineSurvivesRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.QuarantineAfter = 1 })
	h.node("liar", func(n *NodeState) { n.TaskSlots = 1 })
	h.submit(ckpt("f1"))
	h.event("liar", "f1", 1, task.EventAccepted)
	h.tick(DefaultStartTimeout)
	h.cancel("f1")
	until, ok := h.e.Quarantined()["liar"]
	if !ok {
		t.Fatal("not quarantined after a failure")
	}
	h.tick(time.Minute)
	h.restart()
	if got, ok := h.e.Quarantined()["liar"]; !ok || !got.Equal(until) {
		t.Fatalf("after a restart: quarantined %v, want liar until %v", h.e.Quarantined(), until)
	}
	if !quarantineListed(t, h.msgs, "liar") {
		t.Fatal("the restarted scheduler did not announce liar's quarantine")
	}
	h.node("liar", func(n *NodeState) { n.TaskSlots = 1 })
	h.submit(builtin("waits", 1))
	h.tick(DefaultQuarantine - time.Minute - time.Second)
	if got := h.task("waits"); got.State != task.StatePending {
		t.Fatalf("a restarted scheduler placed a task on a quarantined node: %s on %q", got.State, got.Node)
	}
	h.tick(time.Second)
	if got := h.task("waits"); got.State != task.StateAssigned || got.Node != "liar" {
		t.Fatalf("after the quarantine: %s on %q", got.State, got.Node)
	}

	// Quarantined again, released by an operator, restarted: released.
	h.event("liar", "waits", 1, task.EventAccepted)
	h.tick(DefaultStartTimeout)
	if _, ok := h.e.Quarantined()["liar"]; !ok {
		t.Fatal("not quarantined again")
	}
	if !h.e.Release("liar") {
		t.Fatal("Release: false")
	}
	h.do(func(*Engine) {})
	h.restart()
	if q := h.e.Quarantined(); len(q) != 0 {
		t.Fatalf("a released node is in quarantine again after a restart: %v", q)
	}
}

// quarantineListed reports whether msgs announce node in quarantine.
func quarantineListed(t *testing.T, msgs []Message, node string) bool {
	t.Helper()
	for _, m := range msgs {
		if !strings.HasSuffix(m.Topic, "/tasks/quarantine") {
			continue
		}
		var l task.QuarantineList
		if err := json.Unmarshal(m.Payload, &l); err != nil {
			t.Fatalf("quarantine list: %v", err)
		}
		for _, q := range l.Nodes {
			if q.Node == node {
				return true
			}
		}
	}
	return false
}

// TestProgressEventsKeepAttemptsAlive: on a node whose facts say it
// reports progress every 30 s, an attempt of a task that promises no
// checkpoints stays while progress events come — moved or not — and one
// that stops sending them is ended at ProgressTimeout (3 × 30 s is less)
// and re-queued elsewhere without using a retry. A progress event moves
// the status's progress, and leaves the attempt running in the history.
// On a node that announces no interval (an older agent) such an attempt
// is bounded by its timeout only.
func TestProgressEventsKeepAttemptsAlive(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("a-reports", func(n *NodeState) { n.TaskSlots = 2; n.ProgressEvery = 30 * time.Second })
	h.submit(builtin("reported", 100))
	h.submit(builtin("goes-silent", 100))
	h.event("a-reports", "reported", 1, task.EventRunning)
	h.event("a-reports", "goes-silent", 1, task.EventRunning)
	h.node("b-old", func(n *NodeState) { n.TaskSlots = 2 })
	for i := 1; i <= 8; i++ {
		h.tick(30 * time.Second)
		h.event("a-reports", "reported", 1, task.EventProgress, func(ev *task.Event) {
			ev.Progress, ev.Total = int64(min(i, 5)), 100 // stalls at 5: still alive
		})
		if i == 5 {
			h.event("a-reports", "goes-silent", 1, task.EventProgress, func(ev *task.Event) { ev.Progress, ev.Total = 3, 100 })
		}
	}
	got := h.task("reported")
	if got.Node != "a-reports" || got.Attempt != 1 || got.State != task.StateRunning {
		t.Fatalf("an attempt sending progress events was ended: %+v", got.Attempts)
	}
	if got.Progress != 5 || got.Total != 100 || got.Attempts[0].State != task.EventRunning {
		t.Fatalf("progress %d of %d, attempt state %q; want 5 of 100, running", got.Progress, got.Total, got.Attempts[0].State)
	}
	// Silent since its progress event at 150 s; 240 s now.
	if got := h.task("goes-silent"); got.Attempt != 1 {
		t.Fatalf("ended after 90 s of silence, before its 3m bound: %+v", got.Attempts)
	}
	h.tick(DefaultProgressTimeout - 90*time.Second)
	got = h.task("goes-silent")
	if got.Node != "b-old" || got.Attempt != 2 || got.Failures != 0 || !strings.Contains(got.Attempts[0].Reason, "no progress") {
		t.Fatalf("silent attempt: node %s attempt %d failures %d, ended %q; want on b-old, attempt 2, no retry used",
			got.Node, got.Attempt, got.Failures, got.Attempts[0].Reason)
	}
	// b-old announces no progress interval: only the timeout bounds it.
	h.event("b-old", "goes-silent", 2, task.EventRunning)
	h.tick(30 * time.Minute)
	if got := h.task("goes-silent"); got.Attempt != 2 || got.State != task.StateRunning {
		t.Fatalf("an older agent's attempt without progress events was ended: %+v", got.Attempts)
	}
}

// TestProgressEventsDoNotKeepAStalledBuiltin: a checkpointable builtin
// must advance; progress events that repeat the same progress do not
// keep its attempt alive.
func TestProgressEventsDoNotKeepAStalledBuiltin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("liar", func(n *NodeState) { n.ProgressEvery = 30 * time.Second })
	h.submit(ckpt("stalled"))
	h.event("liar", "stalled", 1, task.EventRunning, func(ev *task.Event) { ev.Total = 100 })
	for range 6 {
		h.tick(30 * time.Second)
		h.event("liar", "stalled", 1, task.EventProgress, func(ev *task.Event) { ev.Progress, ev.Total = 0, 100 })
	}
	if got := h.task("stalled"); got.Attempt != 2 || !strings.Contains(got.Attempts[0].Reason, "no progress") {
		t.Fatalf("a stalled checkpointable builtin: %s, attempt %d, %+v; want its first attempt ended for no progress",
			got.State, got.Attempt, got.Attempts)
	}
}

// TestQueuedAttemptWaitsForASlot: with a node queue, an attempt accepted
// behind attempts that take every slot of its node may wait past the
// start timeout while they run; once one ends, its own start is due
// within the start timeout, and it is ended if it does not start.
func TestQueuedAttemptWaitsForASlot(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.NodeQueue, o.Placer = 1, leastOutstanding{queue: true} })
	h.node("pi", func(n *NodeState) { n.TaskSlots = 1 })
	h.submit(builtin("long", 100))
	h.submit(builtin("queued", 100))
	for _, id := range []string{"long", "queued"} {
		if got := h.task(id); got.Node != "pi" {
			t.Fatalf("%s on %q, want pi", id, got.Node)
		}
	}
	h.event("pi", "long", 1, task.EventRunning)
	h.event("pi", "queued", 1, task.EventAccepted)
	for range 3 {
		h.tick(DefaultStartTimeout)
	}
	if got := h.task("queued"); got.State != task.StateAssigned || got.Attempt != 1 {
		t.Fatalf("a task queued behind a running one was ended: %s, %+v", got.State, got.Attempts)
	}
	h.event("pi", "long", 1, task.EventSucceeded, func(ev *task.Event) { ev.Result = &task.Result{} })
	h.tick(DefaultStartTimeout - time.Second)
	if got := h.task("queued"); got.State != task.StateAssigned || got.Attempt != 1 {
		t.Fatalf("ended before its start was due: %s, %+v", got.State, got.Attempts)
	}
	h.tick(time.Second)
	if got := h.task("queued"); got.Attempt != 2 || !strings.Contains(got.Attempts[0].Reason, "not started") {
		t.Fatalf("a task not started within the start timeout of its slot freeing: attempt %d, %+v", got.Attempt, got.Attempts)
	}
}
