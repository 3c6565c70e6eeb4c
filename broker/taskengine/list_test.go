package taskengine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tether-edge/tether/pkg/task"
)

// control runs a control request and returns its reply.
func (h *harness) control(req task.ControlRequest) task.Reply {
	h.t.Helper()
	req.V, req.RequestID, req.ReplyTo = task.Version, "c1", "tether/v1/default/replies/cli/c1"
	if err := req.Validate(); err != nil {
		h.t.Fatalf("request invalid: %v", err)
	}
	h.do(func(e *Engine) { e.Control(req) })
	r := h.reply()
	if err := r.Validate(); err != nil {
		h.t.Fatalf("reply invalid: %v", err)
	}
	return r
}

// TestListPages: OpList pages through every task — finished ones in the
// store and unfinished ones in memory, by id, each once — with a cursor,
// well past 1,024 tasks.
func TestListPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("pi", func(n *NodeState) { n.TaskSlots = 4 })
	const n = 1500
	for i := range n {
		h.submit(builtin(fmt.Sprintf("t%04d", i), 1))
	}
	// Half of them finish, and their final statuses are announced: they
	// leave memory for the store's f/.
	for i := 0; i < n; i += 2 {
		id := fmt.Sprintf("t%04d", i)
		if h.task(id).State == task.StatePending {
			h.cancel(id)
		} else {
			h.event("pi", id, 1, task.EventSucceeded, func(ev *task.Event) { ev.Result = &task.Result{} })
		}
		h.do(func(e *Engine) { e.Announced(id) })
	}
	h.restart() // and the engine holds only the unfinished ones
	seen := map[string]string{}
	after, pages := "", 0
	for {
		r := h.control(task.ControlRequest{Op: task.OpList, After: after, Limit: 200})
		if !r.OK {
			t.Fatalf("list: %+v", r)
		}
		pages++
		for _, st := range r.Tasks {
			if _, dup := seen[st.Task]; dup || st.Task <= after {
				t.Fatalf("page after %q lists %s again or out of order", after, st.Task)
			}
			seen[st.Task] = st.State
			after = st.Task
		}
		if r.Next == "" {
			break
		}
		if r.Next != after || len(r.Tasks) != 200 {
			t.Fatalf("next %q after a page of %d ending %q", r.Next, len(r.Tasks), after)
		}
	}
	if len(seen) != n || pages != (n+199)/200 {
		t.Fatalf("listed %d tasks in %d pages, want %d in %d", len(seen), pages, n, (n+199)/200)
	}
	if seen["t0000"] != task.StateSucceeded || seen["t0001"] == "" || task.Terminal(seen["t0001"]) {
		t.Fatalf("t0000 %s, t0001 %s", seen["t0000"], seen["t0001"])
	}
}

// TestQuarantineOps: OpQuarantine lists the nodes in quarantine; an
// operator's OpRelease ends one's quarantine.
func TestQuarantineOps(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.QuarantineAfter = 1 })
	h.node("liar", func(n *NodeState) { n.TaskSlots = 1 })
	h.submit(ckpt("x"))
	h.event("liar", "x", 1, task.EventAccepted)
	h.tick(DefaultStartTimeout)
	r := h.control(task.ControlRequest{Op: task.OpQuarantine})
	if !r.OK || len(r.Quarantine) != 1 || r.Quarantine[0].Node != "liar" || !r.Quarantine[0].Until.Equal(h.now.Add(DefaultQuarantine)) {
		t.Fatalf("quarantine: %+v", r)
	}
	if r := h.control(task.ControlRequest{Op: task.OpRelease, Node: "liar"}); !r.OK || len(r.Quarantine) != 0 {
		t.Fatalf("release: %+v", r)
	}
	if got := h.task("x"); got.State != task.StateAssigned || got.Node != "liar" {
		t.Fatalf("after release: x %s on %q", got.State, got.Node)
	}
	if r := h.control(task.ControlRequest{Op: task.OpRelease, Node: "liar"}); r.OK || !strings.Contains(r.Error, "not in quarantine") {
		t.Fatalf("release again: %+v", r)
	}
}
