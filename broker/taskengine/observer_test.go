package taskengine

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tether-edge/tether/pkg/task"
)

// recorder is a Placer with both optional capabilities: it places as
// leastOutstanding does and writes down what it is told.
type recorder struct {
	leastOutstanding
	log []string
}

var (
	_ Observer      = (*recorder)(nil)
	_ PolicyChecker = (*recorder)(nil)
)

func (r *recorder) NodeUpdated(n NodeState) {
	r.log = append(r.log, fmt.Sprintf("node %s online=%v cpu=%.2f throttled=%v", n.ID, n.Online, n.CPU, n.Throttled))
}

func (r *recorder) AttemptAssigned(a Attempt) {
	r.log = append(r.log, fmt.Sprintf("assigned %s/%d on %s work=%g submitted=%s running=%v",
		a.Task, a.Attempt, a.Node, a.Request.Work, a.Request.Submitted.Format(time.TimeOnly), !a.Started.IsZero()))
}

func (r *recorder) AttemptRunning(id string, n uint32) {
	r.log = append(r.log, fmt.Sprintf("running %s/%d", id, n))
}

func (r *recorder) AttemptEnded(id string, n uint32, res *task.Result) {
	s := fmt.Sprintf("ended %s/%d", id, n)
	if res != nil {
		s += fmt.Sprintf(" in %dms", res.DurationMS)
	}
	r.log = append(r.log, s)
}

func (r *recorder) CheckPolicy(name string) error {
	if name == "tether" {
		return nil
	}
	return errors.New("no policy " + name)
}

func (r *recorder) take() []string {
	l := r.log
	r.log = nil
	return l
}

// TestObserverSeesEveryAttempt: a placer that observes is told of nodes
// and of each attempt from its assignment to its end, whatever ends it,
// and of the attempts a restart finds assigned or running.
func TestObserverSeesEveryAttempt(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h := newHarness(t, func(o *Options) { o.Placer = rec; o.Grace = 10 * time.Second })
	h.node("pi-a", func(n *NodeState) { n.CPU, n.Throttled = 0.25, true })
	s := builtin("t1", 10)
	s.Work = 4
	h.submit(s)
	h.event("pi-a", "t1", 1, task.EventAccepted)
	h.event("pi-a", "t1", 1, task.EventRunning)
	h.event("pi-a", "t1", 1, task.EventRunning, func(ev *task.Event) { ev.Progress, ev.Total = 5, 10 })
	h.event("pi-a", "t1", 1, task.EventSucceeded, func(ev *task.Event) {
		ev.Progress, ev.Total, ev.Result = 10, 10, &task.Result{DurationMS: 3900, WorkDone: 10}
	})
	want := []string{
		"node pi-a online=true cpu=0.25 throttled=true",
		"assigned t1/1 on pi-a work=4 submitted=09:30:00 running=false",
		"running t1/1",
		"ended t1/1 in 3900ms",
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}

	// A failure, a lost node: ended without a result.
	f := builtin("t2", 10)
	f.Retries = 1
	h.submit(f)
	h.event("pi-a", "t2", 1, task.EventFailed, func(ev *task.Event) { ev.Error = "boom" })
	h.tick(DefaultBackoffBase)
	h.event("pi-a", "t2", 2, task.EventRunning)
	h.offline("pi-a")
	h.tick(11 * time.Second)
	want = []string{
		"assigned t2/1 on pi-a work=1 submitted=09:30:00 running=false",
		"ended t2/1",
		"assigned t2/2 on pi-a work=1 submitted=09:30:00 running=false",
		"running t2/2",
		"node pi-a online=false cpu=0.25 throttled=true",
		"ended t2/2",
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}

	// After a restart the engine says what is assigned and running before
	// any node is heard of.
	h.node("pi-b")
	h.submit(builtin("t3", 10))
	h.submit(builtin("t4", 10))
	h.event("pi-b", "t3", 1, task.EventRunning)
	rec.take()
	h.restart()
	got := rec.take()
	if len(got) != 3 {
		t.Fatalf("after the restart: %q", got)
	}
	want = []string{
		"assigned t2/3 on pi-b work=1 submitted=09:30:00 running=false",
		"assigned t3/1 on pi-b work=1 submitted=09:30:16 running=true",
		"assigned t4/1 on pi-b work=1 submitted=09:30:16 running=false",
	}
	// Loaded tasks come in the store's order; compare as sets.
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}
	h.cancel("t4")
	if diff := cmp.Diff([]string{"ended t4/1"}, rec.take()); diff != "" {
		t.Fatalf("cancel (-want +got):\n%s", diff)
	}
}

// TestSubmitRefusesAnUnknownPolicy: a placer that knows its policies has a
// submission naming another refused, with its reason, and nothing stored.
func TestSubmitRefusesAnUnknownPolicy(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h := newHarness(t, func(o *Options) { o.Placer = rec })
	h.node("pi-a")
	s := builtin("p1", 10)
	s.Policy = "fastest"
	if r := h.submit(s); r.OK || r.Error != "no policy fastest" {
		t.Fatalf("reply %+v", r)
	}
	if len(h.msgs) != 1 {
		t.Fatalf("a refused submission wrote or announced something: %s", h.dump())
	}
	s.Policy = "tether"
	if r := h.submit(s); !r.OK || r.State != task.StateAssigned {
		t.Fatalf("reply %+v", r)
	}
	// Without a PolicyChecker the name is not looked at.
	h2 := newHarness(t)
	h2.node("pi-a")
	s.Policy = "fastest"
	if r := h2.submit(s); !r.OK {
		t.Fatalf("a Placer without a PolicyChecker refused a policy name: %+v", r)
	}
}

// oneSlot is a central-queue Placer: one task per node, shortest work
// first.
type oneSlot struct{}

var _ Queue = oneSlot{}

func (oneSlot) Place(r *Request, nodes []*Candidate) *Candidate {
	for _, n := range nodes {
		if n.Tasks == 0 && Fits(r, n) {
			return n
		}
	}
	return nil
}

func (oneSlot) Key(r *Request) float64 { return r.Work }

// TestQueueOrdersThePendingTasks: with a Queue, a submission waits for the
// round's pass, and when a slot frees the pending task with the smallest
// key takes it, whatever its priority or submission time.
func TestQueueOrdersThePendingTasks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.Placer = oneSlot{} })
	h.node("pi-a")
	var order []string
	for _, w := range []float64{5, 3, 1, 4} {
		s := builtin(fmt.Sprintf("w%g", w), 10)
		s.Work = w
		s.Priority = int(w) // priority would order them the other way
		h.submit(s)
		h.advance(time.Second)
		for _, a := range h.assignments() {
			order = append(order, a.Task)
		}
	}
	for len(order) < 4 {
		h.event("pi-a", order[len(order)-1], 1, task.EventSucceeded, func(ev *task.Event) { ev.Result = &task.Result{} })
		as := h.assignments()
		if len(as) != 1 {
			t.Fatalf("after %v: %d assignments", order, len(as))
		}
		order = append(order, as[0].Task)
	}
	if diff := cmp.Diff([]string{"w5", "w1", "w3", "w4"}, order); diff != "" {
		t.Errorf("placement order (-want +got):\n%s", diff)
	}
}

// aheadRecorder is a central-queue Placer that places nothing and records,
// per task, the work the last pass said was queued ahead of it.
type aheadRecorder struct{ ahead map[string]float64 }

func (p *aheadRecorder) Place(r *Request, nodes []*Candidate) *Candidate {
	p.ahead[r.Task] = r.Ahead
	return nil
}

func (p *aheadRecorder) Key(r *Request) float64 { return r.Work }

// TestQueuePassTellsTheWorkAhead: a pass tells each task it offers the work
// of the pending tasks before it that the pass did not place, so a Placer
// can weigh waiting for a busy node against the queue it would wait behind.
func TestQueuePassTellsTheWorkAhead(t *testing.T) {
	t.Parallel()
	p := &aheadRecorder{ahead: map[string]float64{}}
	h := newHarness(t, func(o *Options) { o.Placer = p })
	h.node("pi-a")
	for k, w := range []float64{5, 3, 1, 4} {
		s := builtin(fmt.Sprintf("w%g", w), 10)
		s.Work = w
		s.Resources.MemMB = int64(k + 1) // a shape each: none is skipped after a miss
		h.submit(s)
	}
	h.advance(time.Second)
	want := map[string]float64{"w1": 0, "w3": 1, "w4": 4, "w5": 8}
	if diff := cmp.Diff(want, p.ahead); diff != "" {
		t.Errorf("work ahead per task (-want +got):\n%s", diff)
	}
}
