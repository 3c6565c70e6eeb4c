package taskengine

import (
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

func cand(id string, outstanding float64, mods ...func(*Candidate)) *Candidate {
	c := &Candidate{NodeState: NodeState{ID: id, Online: true, HasFacts: true, Tier: protocol.TierEdge, Cores: 4, MemTotal: 1 << 30},
		Outstanding: outstanding}
	for _, m := range mods {
		m(c)
	}
	return c
}

func TestFits(t *testing.T) {
	t.Parallel()
	spec := func(mods ...func(*task.Spec)) *Request {
		s := builtin("t", 1)
		for _, m := range mods {
			m(&s)
		}
		return &Request{Spec: &s}
	}
	cases := []struct {
		name string
		r    *Request
		n    *Candidate
		want bool
	}{
		{"no constraints", spec(), cand("a", 0), true},
		{"tier any", spec(func(s *task.Spec) { s.Constraints.Tier = task.TierAny }), cand("a", 0), true},
		{"tier cloud on edge", spec(func(s *task.Spec) { s.Constraints.Tier = task.TierCloud }), cand("a", 0), false},
		{"tier cloud on cloud", spec(func(s *task.Spec) { s.Constraints.Tier = task.TierCloud }),
			cand("a", 0, func(c *Candidate) { c.Tier = protocol.TierCloud }), true},
		{"label missing", spec(func(s *task.Spec) { s.Constraints.Labels = map[string]string{"gpu": "yes"} }), cand("a", 0), false},
		{"label differs", spec(func(s *task.Spec) { s.Constraints.Labels = map[string]string{"gpu": "yes"} }),
			cand("a", 0, func(c *Candidate) { c.Labels = map[string]string{"gpu": "no"} }), false},
		{"label matches", spec(func(s *task.Spec) { s.Constraints.Labels = map[string]string{"gpu": "yes"} }),
			cand("a", 0, func(c *Candidate) { c.Labels = map[string]string{"gpu": "yes", "site": "x"} }), true},
		{"cpu fits exactly", spec(func(s *task.Spec) { s.Resources.CPUMillis = 1500 }),
			cand("a", 0, func(c *Candidate) { c.CPUMillis = 2500 }), true},
		{"cpu over", spec(func(s *task.Spec) { s.Resources.CPUMillis = 1501 }),
			cand("a", 0, func(c *Candidate) { c.CPUMillis = 2500 }), false},
		{"mem over", spec(func(s *task.Spec) { s.Resources.MemMB = 513 }),
			cand("a", 0, func(c *Candidate) { c.MemBytes = 512 << 20 }), false},
		{"mem fits", spec(func(s *task.Spec) { s.Resources.MemMB = 512 }),
			cand("a", 0, func(c *Candidate) { c.MemBytes = 512 << 20 }), true},
	}
	for _, c := range cases {
		if got := Fits(c.r, c.n); got != c.want {
			t.Errorf("%s: Fits = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestNewNeedsAPlacer: the engine has no placer of its own; options
// without one are refused, naming what is missing.
func TestNewNeedsAPlacer(t *testing.T) {
	t.Parallel()
	topics, _ := protocol.NewTopics("default")
	e, err := New(Options{Topics: topics, Key: testKey}, Loaded{})
	if e != nil || !errors.Is(err, errNoPlacer) || !strings.Contains(err.Error(), "Placer") {
		t.Fatalf("New without a Placer: %v, %v", e, err)
	}
}

// TestPlacementSpreadsByOutstandingWork: the engine charges each node
// with the work of the tasks it assigned there, so tasks spread; a task
// that fits no node stays pending until the fleet changes.
func TestPlacementSpreadsByOutstandingWork(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("pi-a")
	h.node("pi-b")
	var on []string
	for i := range 4 {
		s := builtin(fmt.Sprintf("t%d", i), 10)
		s.Work = 5
		h.submit(s)
		on = append(on, h.assignments()[0].Node)
	}
	if fmt.Sprint(on) != "[pi-a pi-b pi-a pi-b]" {
		t.Fatalf("placements %v", on)
	}
	unplaced := func() (n uint64) {
		h.do(func(e *Engine) { n = e.Unplaced() })
		return n
	}
	if n := unplaced(); n != 0 {
		t.Fatalf("%d placements found no node, all four found one", n)
	}
	big := builtin("big", 10)
	big.Resources.CPUMillis = 8000
	if r := h.submit(big); r.State != task.StatePending {
		t.Fatalf("big placed: %+v", r)
	}
	if n := unplaced(); n == 0 {
		t.Fatal("a task that fits no node was not counted unplaced")
	}
	// The gauge counts tasks, not passes: big twice tried is one task
	// that fits nowhere; a second one cancelled leaves the count.
	unplaceable := func() (n int64) {
		h.do(func(e *Engine) { n = e.Unplaceable() })
		return n
	}
	h.tick(time.Second)
	if n := unplaceable(); n != 1 {
		t.Fatalf("unplaceable %d with one task that fits no node", n)
	}
	huge := builtin("huge", 10)
	huge.Resources.CPUMillis = 8000
	h.submit(huge)
	if n := unplaceable(); n != 2 {
		t.Fatalf("unplaceable %d with two tasks that fit no node", n)
	}
	if r := h.cancel("huge"); !r.OK {
		t.Fatalf("cancel huge: %+v", r)
	}
	if n := unplaceable(); n != 1 {
		t.Fatalf("unplaceable %d once one of the two was cancelled", n)
	}
	h.node("pi-c", func(n *NodeState) { n.Cores = 8 })
	if as := h.assignments(); len(as) != 1 || as[0].Task != "big" || as[0].Node != "pi-c" {
		t.Fatalf("when a fitting node came: %+v", as)
	}
	if n := unplaceable(); n != 0 {
		t.Fatalf("unplaceable %d once the task found a node", n)
	}
	// pi-c is full: the next 1-core task goes elsewhere.
	one := builtin("one", 10)
	one.Resources.CPUMillis = 1000
	one.Work = 100
	h.submit(one)
	if as := h.assignments(); as[0].Node == "pi-c" {
		t.Fatal("placed on a node without free cores")
	}
}

// TestPlacementPassSkipsShapes: a backlog of tasks no node takes does not
// hold back a task of another shape behind it.
func TestPlacementPassSkipsShapes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("pi-a")
	for i := range maxMisses + 10 {
		s := builtin(fmt.Sprintf("gpu-%03d", i), 10)
		s.Priority = 10
		s.Constraints.Labels = map[string]string{"gpu": "yes"}
		h.submit(s)
	}
	// Ten shapes that fit nowhere, ahead of a plain task.
	for i := range 10 {
		s := builtin(fmt.Sprintf("big-%d", i), 10)
		s.Priority = 5
		s.Resources.MemMB = int64(8<<10 + i)
		h.submit(s)
	}
	plain := builtin("plain", 10)
	plain.Constraints.Tier = task.TierCloud
	h.submit(plain) // pending: no cloud node yet
	h.node("cloud-1", func(n *NodeState) { n.Tier = protocol.TierCloud })
	if as := h.assignments(); len(as) != 1 || as[0].Task != "plain" {
		t.Fatalf("assignments %+v", as)
	}
}

// estimating is the test placer with a fixed estimate of the end.
type estimating struct {
	leastOutstanding
	done time.Time
}

func (e *estimating) Estimate() (time.Time, bool) { return e.done, !e.done.IsZero() }

// TestAttemptAtRiskOfItsDeadline: the placement's estimate of the end goes
// in the status; past the task's deadline the task is marked at risk, and
// an attempt estimated in time clears the mark.
func TestAttemptAtRiskOfItsDeadline(t *testing.T) {
	t.Parallel()
	pl := &estimating{}
	h := newHarness(t, func(o *Options) { o.Placer = pl })
	h.node("pi-a")
	pl.done = h.now.Add(time.Hour)
	late := builtin("late", 10)
	late.Deadline = task.Duration(time.Minute)
	h.submit(late)
	st, _ := h.status("late")
	if !st.AtRisk || !st.EstDone.Equal(pl.done) {
		t.Fatalf("estimated an hour for a minute's deadline: at_risk %v, est_done %v", st.AtRisk, st.EstDone)
	}
	pl.done = h.now.Add(30 * time.Second)
	ok := builtin("in-time", 10)
	ok.Deadline = task.Duration(time.Minute)
	h.submit(ok)
	if st, _ := h.status("in-time"); st.AtRisk || !st.EstDone.Equal(pl.done) {
		t.Fatalf("estimated in time: at_risk %v, est_done %v", st.AtRisk, st.EstDone)
	}
	none := builtin("no-deadline", 10)
	pl.done = h.now.Add(time.Hour)
	h.submit(none)
	if st, _ := h.status("no-deadline"); st.AtRisk {
		t.Fatal("a task without a deadline marked at risk")
	}
}

// preempting is the test placer naming a fixed victim.
type preempting struct {
	leastOutstanding
	victim string
	asked  int
}

func (p *preempting) Victim(r *Request, _ []*Candidate) (string, uint32, bool) {
	p.asked++
	return p.victim, 1, p.victim != ""
}

// TestDeadlineTaskPreemptsAVictim: a deadline task that fits nowhere gets
// the slot of the running attempt the Placer names — at its submission,
// or in a later pass while every slot is taken. The victim's node is
// asked to yield it; when it does not answer within YieldWait, the
// attempt is ended (reason "preempted for …", a cancel sent to its node)
// and its task is pending again, resuming from its checkpoint without
// using a retry; the deadline task is assigned to the freed node. The
// yield that comes after that ends nothing again and brings no
// checkpoint. A task without a deadline never asks.
func TestDeadlineTaskPreemptsAVictim(t *testing.T) {
	t.Parallel()
	pl := &preempting{}
	h := newHarness(t, func(o *Options) { o.Placer = pl })
	h.node("pi-a", func(n *NodeState) { n.TaskSlots = 1; n.Slots = 1 })
	long := builtin("long", 1000)
	long.Checkpointable = true
	h.submit(long)
	h.event("pi-a", "long", 1, task.EventRunning)
	h.event("pi-a", "long", 1, task.EventCheckpoint, checkpointAt(100))
	h.submit(builtin("plain", 10))
	if pl.asked != 0 {
		t.Fatalf("a task without a deadline asked for a victim %d times", pl.asked)
	}
	urgent := builtin("urgent", 10)
	urgent.Deadline = task.Duration(time.Minute)
	if r := h.submit(urgent); r.State != task.StatePending || pl.asked != 1 {
		t.Fatalf("with no victim: %s, asked %d times", r.State, pl.asked)
	}
	// Every slot is taken, yet a later pass still tries the deadline task
	// (and only it): now there is a victim, asked to yield.
	pl.victim = "long"
	h.tick(time.Second)
	if got := ops(h.assignments()); !cmp.Equal(got, []string{"yield long/1 to pi-a"}) {
		t.Fatalf("assignments %v, want the victim's yield alone", got)
	}
	if u := h.task("urgent"); u.State != task.StatePending {
		t.Fatalf("urgent %s while the victim yields", u.State)
	}
	h.tick(time.Second) // the wait is not over: nothing more is asked or sent
	if got := ops(h.assignments()); len(got) != 0 || pl.asked != 2 {
		t.Fatalf("within the wait: assignments %v, asked %d times", got, pl.asked)
	}
	h.tick(time.Second)
	if got := ops(h.assignments()); !cmp.Equal(got, []string{"cancel long/1 to pi-a", "run urgent/1 to pi-a"}) {
		t.Fatalf("after the wait: assignments %v, want the victim's cancel, then urgent's run", got)
	}
	v := h.task("long")
	if v.State != task.StatePending || v.Failures != 0 || v.Attempts[0].Reason != "preempted for urgent" {
		t.Fatalf("victim: %s, failures %d, attempt %+v", v.State, v.Failures, v.Attempts[0])
	}
	if n := h.e.Preempted(); n != 1 {
		t.Fatalf("Preempted = %d", n)
	}
	// The node's answer, late: recorded, never applied.
	h.event("pi-a", "long", 1, task.EventCheckpoint, checkpointAt(400))
	h.event("pi-a", "long", 1, task.EventYielded, func(ev *task.Event) { ev.Progress, ev.Total = 400, 1000 })
	v = h.task("long")
	if v.State != task.StatePending || v.CheckpointAt != 100 || v.Attempts[0].Reason != "preempted for urgent" ||
		v.Attempts[0].State != task.EventYielded {
		t.Fatalf("after the late yield: %s, checkpoint at %d, attempt %+v", v.State, v.CheckpointAt, v.Attempts[0])
	}
	if _, fenced := h.e.fences["pi-a"]["long"]; fenced {
		t.Error("the node reported the attempt over, yet it stays fenced")
	}
}

// waitPreempting is the test placer that preempts for any task that waits
// (WaitPreempter), naming a fixed victim.
type waitPreempting struct{ preempting }

func (p *waitPreempting) PreemptsWaiting() bool { return true }

// TestWaitPreempterPreemptsForATaskWithoutADeadline: a WaitPreempter is
// asked for a victim for a task without a deadline that fits nowhere, also
// in a later pass while every slot is taken, and the task gets the freed
// slot; a plain Preempter is not (TestDeadlineTaskPreemptsAVictim).
func TestWaitPreempterPreemptsForATaskWithoutADeadline(t *testing.T) {
	t.Parallel()
	pl := &waitPreempting{}
	h := newHarness(t, func(o *Options) { o.Placer = pl })
	h.node("pi-a", func(n *NodeState) { n.TaskSlots = 1; n.Slots = 1 })
	long := builtin("long", 1000)
	long.Checkpointable = true
	h.submit(long)
	h.event("pi-a", "long", 1, task.EventRunning)
	if r := h.submit(builtin("short", 10)); r.State != task.StatePending || pl.asked != 1 {
		t.Fatalf("with no victim: %s, asked %d times", r.State, pl.asked)
	}
	pl.victim = "long"
	// A pass with every slot taken (the node's labels changed).
	h.node("pi-a", func(n *NodeState) { n.TaskSlots = 1; n.Slots = 1; n.Labels = map[string]string{"zone": "b"} })
	if got := ops(h.assignments()); !cmp.Equal(got, []string{"yield long/1 to pi-a"}) || pl.asked != 2 {
		t.Fatalf("assignments %v, asked %d times", got, pl.asked)
	}
	h.event("pi-a", "long", 1, task.EventYielded)
	if s := h.task("short"); s.State != task.StateAssigned || s.Node != "pi-a" {
		t.Fatalf("short: %s on %q", s.State, s.Node)
	}
	if v := h.task("long"); v.State != task.StatePending || v.Attempts[0].Reason != "yielded for short" {
		t.Fatalf("victim: %s, attempt %+v", v.State, v.Attempts[0])
	}
}

// admitting is the test placer with admission control: it refuses a task
// named "refuse-…", and records the pending tasks it was shown.
type admitting struct {
	leastOutstanding
	saw []string
}

func (p *admitting) Admit(r *Request, pending iter.Seq[*Request]) error {
	p.saw = p.saw[:0]
	for x := range pending {
		p.saw = append(p.saw, fmt.Sprintf("%s:%g", x.Task, x.Work))
	}
	slices.Sort(p.saw)
	if strings.HasPrefix(r.Task, "refuse-") {
		return errors.New("spec.deadline: cannot be met")
	}
	return nil
}

// TestAdmitterRefusesAtSubmission: a submission the Admitter refuses is
// answered with its error and stores nothing; the Admitter sees the
// pending tasks with their work, not the assigned ones.
func TestAdmitterRefusesAtSubmission(t *testing.T) {
	t.Parallel()
	pl := &admitting{}
	h := newHarness(t, func(o *Options) { o.Placer = pl })
	h.node("pi-a", func(n *NodeState) { n.TaskSlots = 1; n.Slots = 1 })
	h.submit(builtin("running", 100))
	waiting := builtin("waiting", 7)
	waiting.Work = 7
	h.submit(waiting)
	r := h.submit(builtin("refuse-me", 5))
	if r.OK || r.Error != "spec.deadline: cannot be met" {
		t.Fatalf("reply %+v", r)
	}
	if _, ok := h.e.tasks["refuse-me"]; ok {
		t.Error("the refused task was stored")
	}
	if want := []string{"waiting:7"}; !slices.Equal(pl.saw, want) {
		t.Errorf("pending shown %v, want %v", pl.saw, want)
	}
	if r := h.submit(builtin("fine", 5)); !r.OK {
		t.Fatalf("admitted task: %+v", r)
	}
}
