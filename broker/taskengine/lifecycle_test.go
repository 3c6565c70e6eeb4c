package taskengine

import (
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/task"
)

func TestSubmitPlaceRunSucceed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("pi-a")
	r := h.submit(builtin("t1", 100))
	if !r.OK || r.Task != "t1" || r.State != task.StateAssigned || r.Existing {
		t.Fatalf("reply %+v", r)
	}
	as := h.assignments()
	if len(as) != 1 || as[0].Op != task.AssignRun || as[0].Node != "pi-a" || as[0].Attempt != 1 || as[0].Spec.ID != "t1" {
		t.Fatalf("assignments %+v", as)
	}
	if got := as[0].Expires.Sub(as[0].Issued); got != DefaultExpiry {
		t.Errorf("assignment window %v, want %v", got, DefaultExpiry)
	}
	if st, ok := h.status("t1"); !ok || st.State != task.StateAssigned || st.Node != "pi-a" || len(st.Attempts) != 1 {
		t.Fatalf("status %+v", st)
	}

	h.event("pi-a", "t1", 1, task.EventAccepted)
	if st, _ := h.status("t1"); st.State != task.StateAssigned || st.Attempts[0].State != task.EventAccepted {
		t.Fatalf("after accepted: %+v", st)
	}
	h.event("pi-a", "t1", 1, task.EventRunning, func(ev *task.Event) { ev.Progress, ev.Total = 10, 100 })
	if st, _ := h.status("t1"); st.State != task.StateRunning || st.Progress != 10 || st.Total != 100 {
		t.Fatalf("after running: %+v", st)
	}
	if n := h.e.nodes["pi-a"]; n.Tasks != 1 || n.Outstanding < 89 || n.Outstanding > 91 {
		// Work unknown (1 unit)… scaled: the charge follows the progress.
		if n.Outstanding > 1 {
			t.Fatalf("node load %+v", n.Candidate)
		}
	}
	res := &task.Result{ExitCode: 0, Output: "abc", WorkDone: 100}
	h.event("pi-a", "t1", 1, task.EventSucceeded, func(ev *task.Event) { ev.Progress, ev.Total, ev.Result = 100, 100, res })
	st, _ := h.status("t1")
	if st.State != task.StateSucceeded || st.Result == nil || st.Result.Output != "abc" || st.Attempts[0].Ended.IsZero() {
		t.Fatalf("after succeeded: %+v", st)
	}
	if n := h.e.nodes["pi-a"]; n.Tasks != 0 || n.Outstanding != 0 {
		t.Fatalf("node load after success %+v", n.Candidate)
	}

	// A second succeeded (the outbox delivers at least once) and a late
	// failed change nothing: one result per task.
	if ms := h.event("pi-a", "t1", 1, task.EventSucceeded, func(ev *task.Event) { ev.Result = &task.Result{Output: "other"} }); len(ms) != 0 {
		t.Fatalf("duplicate succeeded announced: %s", h.dump())
	}
	h.event("pi-a", "t1", 1, task.EventFailed, func(ev *task.Event) { ev.Error = "late" })
	if got := h.task("t1"); got.State != task.StateSucceeded || got.Result.Output != "abc" || got.Error != "" {
		t.Fatalf("result changed after the end: %+v", got)
	}
}

func TestSubmitIdempotent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	spec := builtin("same", 10)
	if r := h.submit(spec); !r.OK || r.State != task.StatePending {
		t.Fatalf("first: %+v", r)
	}
	// The same spec, written with its defaults, is the same spec.
	again := builtin("same", 10)
	again.Timeout = task.DefaultTimeout
	if r := h.submit(again); !r.OK || !r.Existing || r.State != task.StatePending || r.Task != "same" {
		t.Fatalf("again: %+v", r)
	}
	if len(h.msgs) != 1 {
		t.Fatalf("resubmission wrote or announced something: %s", h.dump())
	}
	other := builtin("same", 11)
	if r := h.submit(other); r.OK || r.Error != "id already used by a different spec" || r.Task != "same" {
		t.Fatalf("different spec: %+v", r)
	}
	if h.task("same").Spec.Builtin.Units != 10 {
		t.Fatal("the different spec replaced the first")
	}

	// Finished and moved out of memory, the id is still known.
	h.node("pi-a")
	h.event("pi-a", "same", 1, task.EventSucceeded)
	h.do(func(e *Engine) { e.Announced("same") })
	h.restart()
	if r := h.submit(builtin("same", 10)); !r.OK || !r.Existing || r.State != task.StateSucceeded {
		t.Fatalf("after finishing and a restart: %+v", r)
	}
	if r := h.submit(builtin("same", 12)); r.OK || !strings.Contains(r.Error, "different spec") {
		t.Fatalf("different spec after finishing: %+v", r)
	}
}

func TestSubmitGeneratesID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.NewID = nil })
	r := h.submit(builtin("", 10))
	if !r.OK || len(r.Task) != 26 {
		t.Fatalf("reply %+v: want a ULID", r)
	}
	r2 := h.submit(builtin("", 10))
	if r2.Task == r.Task {
		t.Fatal("two submissions without an id got one task")
	}
	if got := h.task(r.Task).Spec.ID; got != r.Task {
		t.Fatalf("stored spec id %q", got)
	}
}

func TestSubmitInvalidStoresNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	spec := task.Spec{ID: "bad", Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: "nope", Units: 0}}
	r := h.submit(spec)
	if r.OK || !strings.Contains(r.Error, "spec.builtin.name") || !strings.Contains(r.Error, "spec.builtin.units") {
		t.Fatalf("reply %+v", r)
	}
	if len(h.msgs) != 1 || len(h.e.tasks) != 0 {
		t.Fatalf("invalid spec left a trace: %s", h.dump())
	}
	h.restart()
	if len(h.ld.Active) != 0 {
		t.Fatalf("stored: %+v", h.ld.Active)
	}
}

func TestNoKeyStaysPending(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.Key = nil })
	h.node("pi-a")
	if r := h.submit(builtin("t1", 10)); !r.OK || r.State != task.StatePending {
		t.Fatalf("reply %+v", r)
	}
	h.tick(time.Minute)
	if len(h.assignments()) != 0 || h.task("t1").State != task.StatePending {
		t.Fatal("assigned without a signing key")
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.submit(builtin("p", 10))
	if r := h.cancel("p"); !r.OK || r.State != task.StateCancelled {
		t.Fatalf("cancel pending: %+v", r)
	}
	if r := h.cancel("p"); !r.OK || r.State != task.StateCancelled {
		t.Fatalf("cancel again: %+v", r)
	}
	if r := h.cancel("nope"); r.OK || r.Error != "no task nope" {
		t.Fatalf("cancel unknown: %+v", r)
	}

	h.node("pi-a")
	h.submit(builtin("r", 10))
	h.event("pi-a", "r", 1, task.EventRunning)
	r := h.cancel("r")
	if !r.OK || r.State != task.StateCancelled {
		t.Fatalf("cancel running: %+v", r)
	}
	as := h.assignments()
	if len(as) != 1 || as[0].Op != task.AssignCancel || as[0].Node != "pi-a" || as[0].Attempt != 1 || as[0].Task != "r" {
		t.Fatalf("cancel assignments %+v", as)
	}
	if n := h.e.nodes["pi-a"]; n.Tasks != 0 {
		t.Fatal("a cancelled task still charges its node")
	}
	// The node's late success is recorded, not applied; its cancelled
	// event ends the fence.
	h.event("pi-a", "r", 1, task.EventSucceeded)
	if got := h.task("r"); got.State != task.StateCancelled || got.Result != nil || got.Attempts[0].State != task.EventSucceeded {
		t.Fatalf("after a late success: %+v", got)
	}
	if len(h.e.fences) != 0 {
		t.Fatalf("fence kept after the attempt ended: %+v", h.e.fences)
	}

	h.submit(builtin("done", 10))
	h.event("pi-a", "done", 1, task.EventSucceeded)
	if r := h.cancel("done"); r.OK || r.Error != "task already succeeded" || r.State != task.StateSucceeded {
		t.Fatalf("cancel succeeded: %+v", r)
	}
}
