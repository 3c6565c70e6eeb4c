package taskengine

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/task"
)

// ops describes assignments as "op task/attempt to node", in order.
func ops(as []task.Assignment) []string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s %s/%d to %s", a.Op, a.Task, a.Attempt, a.Node))
	}
	return out
}

// checkpointAt makes an event carry a checkpoint at progress of 1000.
func checkpointAt(progress int64) func(*task.Event) {
	return func(ev *task.Event) {
		ev.Progress, ev.Total, ev.Checkpoint = progress, 1000, fmt.Appendf(nil, "at %d", progress)
	}
}

// yieldSite is one single-slot node running a long checkpointable task
// (its checkpoint at 100 of 1000 taken), and a Placer that names it as the
// victim of an urgent deadline task submitted then.
func yieldSite(t *testing.T, edit func(*Options)) *harness {
	t.Helper()
	pl := &preempting{victim: "long"}
	h := newHarness(t, func(o *Options) {
		o.Placer = pl
		if edit != nil {
			edit(o)
		}
	})
	h.node("pi-a", func(n *NodeState) { n.TaskSlots = 1; n.Slots = 1 })
	long := builtin("long", 1000)
	long.Checkpointable = true
	h.submit(long)
	h.event("pi-a", "long", 1, task.EventRunning)
	h.event("pi-a", "long", 1, task.EventCheckpoint, checkpointAt(100))
	urgent := builtin("urgent", 10)
	urgent.Deadline = task.Duration(time.Minute)
	h.submit(urgent)
	return h
}

// TestVictimYieldsItsCheckpointAndTheTaskTakesItsSlot: the victim's node
// answers the yield with a fresh checkpoint, then the yielded end. The
// attempt ends "yielded for urgent", unfenced and not cancelled; urgent
// is assigned the slot in the same round; the victim, pending, resumes
// from the fresh checkpoint when the slot is free again.
func TestVictimYieldsItsCheckpointAndTheTaskTakesItsSlot(t *testing.T) {
	t.Parallel()
	h := yieldSite(t, nil)
	if got := ops(h.assignments()); !cmp.Equal(got, []string{"yield long/1 to pi-a"}) || h.task("urgent").State != task.StatePending {
		t.Fatalf("at urgent's submission: %v, urgent %s", got, h.task("urgent").State)
	}
	h.event("pi-a", "long", 1, task.EventCheckpoint, checkpointAt(640))
	if got := ops(h.assignments()); len(got) != 0 || h.task("long").State != task.StateRunning {
		t.Fatalf("after the checkpoint: %v, long %s", got, h.task("long").State)
	}
	h.event("pi-a", "long", 1, task.EventYielded, func(ev *task.Event) { ev.Progress, ev.Total = 640, 1000 })
	if got := ops(h.assignments()); !cmp.Equal(got, []string{"run urgent/1 to pi-a"}) {
		t.Fatalf("after the yield: %v, want urgent's run alone", got)
	}
	v := h.task("long")
	if v.State != task.StatePending || v.Failures != 0 || v.CheckpointAt != 640 ||
		v.Attempts[0].Reason != "yielded for urgent" || v.Attempts[0].State != task.EventYielded {
		t.Fatalf("victim: %s, failures %d, checkpoint at %d, attempt %+v", v.State, v.Failures, v.CheckpointAt, v.Attempts[0])
	}
	if len(h.e.fences) != 0 || h.e.Preempted() != 1 {
		t.Fatalf("fences %v, Preempted %d", h.e.fences, h.e.Preempted())
	}
	h.event("pi-a", "urgent", 1, task.EventSucceeded)
	as := h.assignments()
	if len(as) != 1 || as[0].Task != "long" || as[0].Attempt != 2 || as[0].Progress != 640 || string(as[0].Checkpoint) != "at 640" {
		t.Fatalf("after urgent: %v (%+v)", ops(as), as)
	}
	if v := h.task("long"); v.Attempts[1].ResumedFrom != 640 {
		t.Fatalf("long's second attempt resumed from %d", v.Attempts[1].ResumedFrom)
	}
}

// TestYieldRefusedByAnOldAgentCancelsAtOnce: an agent that predates the
// yield refuses it as malformed while the attempt runs on: the attempt is
// taken back as before — fenced and cancelled, no retry used, the node
// not avoided — and urgent gets the slot at once.
func TestYieldRefusedByAnOldAgentCancelsAtOnce(t *testing.T) {
	t.Parallel()
	h := yieldSite(t, nil)
	h.event("pi-a", "long", 1, task.EventRefused, func(ev *task.Event) { ev.Error = `op: is "yield": want "run" or "cancel"` })
	if got := ops(h.assignments()); !cmp.Equal(got, []string{"cancel long/1 to pi-a", "run urgent/1 to pi-a"}) {
		t.Fatalf("after the refusal: %v", got)
	}
	v := h.task("long")
	if v.State != task.StatePending || v.Failures != 0 || v.Avoid != "" || v.CheckpointAt != 100 ||
		v.Attempts[0].Reason != "preempted for urgent" {
		t.Fatalf("victim: %s, failures %d, avoid %q, checkpoint at %d, attempt %+v", v.State, v.Failures, v.Avoid,
			v.CheckpointAt, v.Attempts[0])
	}
	if _, fenced := h.e.fences["pi-a"]["long"]; !fenced {
		t.Error("the attempt may still run, yet it is not fenced")
	}
}

// TestNoYieldWithoutAWait: with YieldWait negative the victim is
// cancelled at once, as before yields.
func TestNoYieldWithoutAWait(t *testing.T) {
	t.Parallel()
	h := yieldSite(t, func(o *Options) { o.YieldWait = -1 })
	if got := ops(h.assignments()); !cmp.Equal(got, []string{"cancel long/1 to pi-a", "run urgent/1 to pi-a"}) {
		t.Fatalf("at urgent's submission: %v", got)
	}
	if r := h.task("long").Attempts[0].Reason; r != "preempted for urgent" {
		t.Fatalf("victim's attempt ended %q", r)
	}
}

// TestVictimEndingOtherwiseHandsTheSlotOver: a victim that succeeds
// before it yields ends the wait as well: urgent is placed at once, and a
// later pass does not wait for a yield that will not come.
func TestVictimEndingOtherwiseHandsTheSlotOver(t *testing.T) {
	t.Parallel()
	h := yieldSite(t, nil)
	h.event("pi-a", "long", 1, task.EventSucceeded)
	if got := ops(h.assignments()); !cmp.Equal(got, []string{"run urgent/1 to pi-a"}) {
		t.Fatalf("after the victim's success: %v", got)
	}
	if len(h.e.yields) != 0 || len(h.e.awaiting) != 0 {
		t.Fatalf("yields %v, awaiting %v left", h.e.yields, h.e.awaiting)
	}
}

// TestYieldForATaskCancelledMeanwhile: the task a victim yields for is
// cancelled while it waits; the yield still ends the attempt as asked,
// and the freed slot goes to the next pending task — the victim itself,
// from its fresh checkpoint.
func TestYieldForATaskCancelledMeanwhile(t *testing.T) {
	t.Parallel()
	h := yieldSite(t, nil)
	if r := h.cancel("urgent"); !r.OK {
		t.Fatalf("cancel urgent: %+v", r)
	}
	h.event("pi-a", "long", 1, task.EventCheckpoint, checkpointAt(500))
	h.event("pi-a", "long", 1, task.EventYielded, func(ev *task.Event) { ev.Progress, ev.Total = 500, 1000 })
	as := h.assignments()
	if got := ops(as); !cmp.Equal(got, []string{"run long/2 to pi-a"}) || as[0].Progress != 500 {
		t.Fatalf("after the yield: %v (%+v)", got, as)
	}
	if u := h.task("urgent"); u.State != task.StateCancelled || u.Attempt != 0 {
		t.Fatalf("urgent: %s, attempt %d", u.State, u.Attempt)
	}
	if r := h.task("long").Attempts[0].Reason; r != "yielded for urgent" {
		t.Fatalf("long's first attempt ended %q", r)
	}
}
