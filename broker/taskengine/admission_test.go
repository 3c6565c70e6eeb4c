package taskengine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tether-edge/tether/pkg/task"
)

// TestLimitsBoundClaims: what a node claims (slots in its facts or a
// label, its cores) is bounded by its cores × slots_per_core and by what
// the operator allows, per node id or by default.
func TestLimitsBoundClaims(t *testing.T) {
	t.Parallel()
	l := Limits{MaxSlots: 8, Nodes: []NodeLimit{{Match: "big-*", MaxSlots: 64, MaxSpeed: 10}}}
	l.ensureDefaults()
	cases := []struct {
		name  string
		n     NodeState
		slots int
		speed float64
	}{
		{"cores only", NodeState{ID: "pi", Cores: 4}, 4, DefaultMaxSpeed},
		{"facts", NodeState{ID: "pi", Cores: 4, TaskSlots: 2}, 2, DefaultMaxSpeed},
		{"label over facts", NodeState{ID: "pi", Cores: 4, TaskSlots: 2, Labels: map[string]string{LabelSlots: "3"}}, 3, DefaultMaxSpeed},
		{"bad label", NodeState{ID: "pi", Cores: 4, TaskSlots: 2, Labels: map[string]string{LabelSlots: "2.5"}}, 2, DefaultMaxSpeed},
		{"liar by facts", NodeState{ID: "pi", Cores: 4, TaskSlots: 4096}, 8, DefaultMaxSpeed},
		{"liar by label", NodeState{ID: "pi", Cores: 4, Labels: map[string]string{LabelSlots: "1024"}}, 8, DefaultMaxSpeed},
		{"liar by cores", NodeState{ID: "pi", Cores: 1 << 20, TaskSlots: 4096}, 8, DefaultMaxSpeed},
		{"few cores", NodeState{ID: "pi", Cores: 1, TaskSlots: 100}, 4, DefaultMaxSpeed},
		{"no cores", NodeState{ID: "pi", TaskSlots: 100}, 4, DefaultMaxSpeed},
		{"operator allows more", NodeState{ID: "big-1", Cores: 32, TaskSlots: 100}, 64, 10},
		{"operator's node, small", NodeState{ID: "big-2", Cores: 2, TaskSlots: 100}, 8, 10},
	}
	for _, c := range cases {
		n := c.n
		l.bound(&n)
		if n.Slots != c.slots || n.MaxSpeed != c.speed {
			t.Errorf("%s: slots %d speed %v, want %d %v", c.name, n.Slots, n.MaxSpeed, c.slots, c.speed)
		}
	}
}

// TestAdmissionKeepsTasksPending: the engine assigns at most a node's
// slots and keeps the rest pending at the scheduler, whatever the node
// claims; a task that ends frees its slot for the next.
func TestAdmissionKeepsTasksPending(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.Limits.MaxSlots = 3 })
	h.node("liar", func(n *NodeState) { n.TaskSlots = 4096; n.Labels = map[string]string{LabelSlots: "1024"} })
	h.node("pi", func(n *NodeState) { n.TaskSlots = 2 })
	for i := range 10 {
		h.submit(builtin(fmt.Sprintf("t%02d", i), 10))
	}
	on := func() map[string]int {
		m := map[string]int{}
		for _, en := range h.e.tasks {
			if t := en.t; t.State == task.StateAssigned || t.State == task.StateRunning {
				m[t.Node]++
			} else if t.State == task.StatePending {
				m["pending"]++
			}
		}
		return m
	}
	if got := on(); got["liar"] != 3 || got["pi"] != 2 || got["pending"] != 5 {
		t.Fatalf("after 10 submissions: %v, want liar 3, pi 2, pending 5", got)
	}
	if h.e.pending != 5 {
		t.Fatalf("pending count %d, want 5", h.e.pending)
	}
	var onPi string
	for id, en := range h.e.tasks {
		if en.t.Node == "pi" {
			onPi = id
			break
		}
	}
	h.event("pi", onPi, 1, task.EventSucceeded, func(ev *task.Event) { ev.Result = &task.Result{} })
	if got := on(); got["pi"] != 2 || got["pending"] != 4 {
		t.Fatalf("after one success on pi: %v, want pi 2, pending 4", got)
	}
}

// TestAdmissionFillsNodeQueues: with Options.NodeQueue, a Placer that
// queues (FitsQueued) is given each node's queue as room: one pass, when
// the node comes, fills its slots and its queue and keeps the rest
// pending; a Placer that does not (Fits) still gets only the slots; with
// no NodeQueue the queueing Placer gets only the slots too. A task that
// ends makes room for one more.
func TestAdmissionFillsNodeQueues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		queue  int
		placer leastOutstanding
		on     int
	}{
		{"queueing placer", 3, leastOutstanding{queue: true}, 5},
		{"free slots only", 3, leastOutstanding{}, 2},
		{"no node queue", 0, leastOutstanding{queue: true}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, func(o *Options) { o.NodeQueue, o.Placer = c.queue, c.placer })
			for i := range 10 {
				h.submit(builtin(fmt.Sprintf("t%02d", i), 10))
			}
			h.node("pi", func(n *NodeState) { n.TaskSlots = 2 })
			count := func() (on, pending int) {
				for _, en := range h.e.tasks {
					switch en.t.State {
					case task.StateAssigned, task.StateRunning:
						on++
					case task.StatePending:
						pending++
					}
				}
				return on, pending
			}
			if on, pending := count(); on != c.on || pending != 10-c.on {
				t.Fatalf("after the node came: %d on it, %d pending; want %d and %d", on, pending, c.on, 10-c.on)
			}
			if q := h.e.candidates()[0].Queue; q != c.queue {
				t.Errorf("candidate's queue %d, want %d", q, c.queue)
			}
			var done string
			for id, en := range h.e.tasks {
				if en.t.Node == "pi" {
					done = id
					break
				}
			}
			h.event("pi", done, 1, task.EventSucceeded, func(ev *task.Event) { ev.Result = &task.Result{} })
			if on, pending := count(); on != c.on || pending != 10-c.on-1 {
				t.Fatalf("after one success: %d on it, %d pending; want %d and %d", on, pending, c.on, 10-c.on-1)
			}
		})
	}
}

// TestQueueFull: a submission beyond MaxPending is refused with a reply
// that says so; nothing is stored for it; an existing task's id is still
// answered, and the queue takes submissions again once tasks leave it.
func TestQueueFull(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.MaxPending = 3 })
	for i := range 3 {
		if r := h.submit(builtin(fmt.Sprintf("q%d", i), 10)); !r.OK {
			t.Fatalf("submission %d refused: %+v", i, r)
		}
	}
	r := h.submit(builtin("q3", 10))
	if r.OK || !strings.Contains(r.Error, "queue full") || r.Task != "" {
		t.Fatalf("submission beyond the cap: %+v", r)
	}
	if _, ok := h.e.tasks["q3"]; ok {
		t.Fatal("a refused submission made a task")
	}
	if r := h.submit(builtin("q0", 10)); !r.OK || !r.Existing {
		t.Fatalf("resubmission of a queued task: %+v", r)
	}
	h.node("pi", func(n *NodeState) { n.TaskSlots = 1 })
	if r := h.submit(builtin("q3", 10)); !r.OK || r.State != task.StatePending {
		t.Fatalf("submission after a task left the queue: %+v", r)
	}
	h.restart()
	if h.e.pending != 3 {
		t.Fatalf("pending after a restart %d, want 3", h.e.pending)
	}
}
