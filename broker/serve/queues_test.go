package serve

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// queueUnit is how long one work unit of a queue test's builtin runs.
const queueUnit = 20 * time.Millisecond

// unitAgent is a generated agent session with one slot that runs builtin tasks unit by
// unit, queueUnit each, as the agent's runner does: it reports running (resumed, from an
// assignment's checkpoint), a checkpoint every checkpoint_every units of a checkpointable
// task, and succeeded; a cancel stops the attempt it names, which it reports cancelled; a
// yield it ignores. It records the tasks in the order their attempts started.
type unitAgent struct {
	mu      sync.Mutex
	started []string
	cancel  map[string]context.CancelFunc // task/attempt running or queued → stop it
}

func startUnitAgent(t *testing.T, url, id string, pub ed25519.PublicKey, topics protocol.Topics) *unitAgent {
	ag := &unitAgent{cancel: map[string]context.CancelFunc{}}
	sess := dial(t, url, id, id, "node-pw")
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() })
	type run struct {
		a   task.Assignment
		ctx context.Context
	}
	work := make(chan run, 64)
	attempt := func(task string, n uint32) string { return fmt.Sprintf("%s/%d", task, n) }
	if err := sess.Subscribe(ctx, topics.NodeCommands(id), 1, func(m session.Message) {
		env, err := task.DecodeEnvelope(m.Payload)
		if err != nil {
			return
		}
		a, err := task.Verify([]ed25519.PublicKey{pub}, env, id, time.Now())
		if err != nil {
			return
		}
		ag.mu.Lock()
		defer ag.mu.Unlock()
		switch k := attempt(a.Task, a.Attempt); a.Op {
		case task.AssignRun:
			if _, dup := ag.cancel[k]; dup {
				return
			}
			c, cancel := context.WithCancel(ctx)
			ag.cancel[k] = cancel
			work <- run{a, c}
		case task.AssignCancel:
			if cancel, ok := ag.cancel[k]; ok {
				cancel()
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	birth, _ := json.Marshal(protocol.NodeStatus{Header: protocol.Header{V: 1, Node: id, Instance: "i-" + id, TS: time.Now()},
		State: protocol.StateOnline, Conn: 1, HeartbeatS: 60,
		Facts: &protocol.Facts{Hostname: id, OS: "linux", Arch: "arm64", Cores: 1, TaskSlots: 1, MemTotal: 4 << 30,
			AgentVersion: "t", Tier: "edge"}})
	if err := sess.Publish(ctx, session.Message{Topic: topics.NodeStatus(id), QoS: 1, Retained: true, Payload: birth}); err != nil {
		t.Fatal(err)
	}
	var seq uint64
	send := func(ev task.Event) { // from the one worker goroutine
		seq++
		ev.Header = protocol.Header{V: 1, Node: id, Instance: "i-" + id, Store: "s-" + id, Seq: seq, TS: time.Now()}
		b, _ := json.Marshal(ev)
		_, _ = sess.PublishAsync(session.Message{Topic: topics.NodeTasks(id), QoS: 1, Payload: b})
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			var r run
			select {
			case <-ctx.Done():
				return
			case r = <-work:
			}
			a, b := r.a, r.a.Spec.Builtin
			ev := func(state string, done int64) task.Event {
				return task.Event{Task: a.Task, Attempt: a.Attempt, State: state, Progress: done, Total: b.Units}
			}
			ag.mu.Lock()
			ag.started = append(ag.started, a.Task)
			ag.mu.Unlock()
			done, began := a.Progress, time.Now()
			running := ev(task.EventRunning, done)
			running.Resumed = done > 0
			send(running)
			cancelled := false
			for done < b.Units && !cancelled {
				select {
				case <-r.ctx.Done():
					cancelled = true
					continue
				case <-time.After(queueUnit):
				}
				done++
				if a.Spec.Checkpointable && b.CheckpointEvery > 0 && done%b.CheckpointEvery == 0 && done < b.Units {
					cp := ev(task.EventCheckpoint, done)
					cp.Checkpoint = []byte(fmt.Sprintf(`{"done":%d}`, done))
					send(cp)
				}
			}
			if cancelled {
				if ctx.Err() != nil {
					return
				}
				send(ev(task.EventCancelled, done))
				continue
			}
			end := ev(task.EventSucceeded, done)
			end.Result = &task.Result{DurationMS: time.Since(began).Milliseconds(), WorkDone: done - a.Progress}
			send(end)
		}
	}()
	return ag
}

func (ag *unitAgent) order() []string {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	return slices.Clone(ag.started)
}

// queueSite is a scheduler whose placement.policy is policy, with one generated unitAgent
// pi-one, and an operator session that submits and watches statuses.
type queueSite struct {
	t        *testing.T
	topics   protocol.Topics
	ag       *unitAgent
	ops      *session.Session
	replies  *inbox
	statuses *inbox
}

func newQueueSite(t *testing.T, policy string) *queueSite {
	s := newSiteCfg(t, func(u map[string]string) { u["pi-one"] = "node-pw" }, func(c *config.Config) {
		c.Placement.Policy = policy
		c.Placement.BackgroundLoad = false // the test process is the host
	})
	q := &queueSite{t: t}
	q.topics, _ = protocol.NewTopics("default")
	q.ops = dial(t, s.url, "ops@queues", "ops", "ops-pw")
	q.replies = listen(t, q.ops, q.topics.Replies("ops"))
	q.statuses = listen(t, q.ops, q.topics.AllTaskStatus())
	q.ag = startUnitAgent(t, s.url, "pi-one", s.key.Public().(ed25519.PublicKey), q.topics)
	return q
}

// submit submits spec and waits for the reply.
func (q *queueSite) submit(spec task.Spec) task.Reply {
	q.t.Helper()
	req := "req-" + spec.ID
	publishJSON(q.t, q.ops, q.topics.TaskSubmit(), task.SubmitRequest{V: 1, RequestID: req, ReplyTo: q.topics.Reply("ops", req), Spec: spec})
	var r task.Reply
	testenv.Eventually(q.t, 5*time.Second, "reply to "+req, func() bool {
		for _, m := range q.replies.all() {
			if m.Topic == q.topics.Reply("ops", req) {
				var err error
				r, err = task.DecodeReply(m.Payload)
				return err == nil
			}
		}
		return false
	})
	return r
}

// last returns each task's latest status.
func (q *queueSite) last() map[string]task.Status {
	out := map[string]task.Status{}
	for _, m := range q.statuses.all() {
		if st, err := task.DecodeStatus(m.Payload); err == nil && !st.Updated.Before(out[st.Task].Updated) {
			out[st.Task] = st
		}
	}
	return out
}

func (q *queueSite) waitFor(within time.Duration, what string, cond func(map[string]task.Status) bool) map[string]task.Status {
	q.t.Helper()
	var m map[string]task.Status
	testenv.Eventually(q.t, within, what, func() bool { m = q.last(); return cond(m) })
	return m
}

func unitTask(id string, units int64, checkpointable bool, deadline time.Duration) task.Spec {
	s := task.Spec{ID: id, Kind: task.KindBuiltin, Work: float64(units) * queueUnit.Seconds(), Checkpointable: checkpointable,
		Deadline: task.Duration(deadline), Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: units, UnitMS: queueUnit.Milliseconds()}}
	if checkpointable {
		s.Builtin.CheckpointEvery = 10
	}
	return s
}

// TestSRTFShortTaskPreemptsALongOne: placement.policy srtf, one single-slot node. A short
// task submitted while a long checkpointable one runs takes its slot. The generated agent
// does not answer the yield it is asked (as an agent that predates yields), so after
// placement.yield_wait the long attempt is cancelled at the node ("preempted for short"), the
// short task runs, and the long one resumes from its last checkpoint: both succeed, the short
// one in its first attempt, the long one in its second. broker/e2e's TestSRTFPreemptionYields
// has a real agent yield.
func TestSRTFShortTaskPreemptsALongOne(t *testing.T) {
	t.Parallel()
	q := newQueueSite(t, "srtf")
	q.waitOnline()
	if r := q.submit(unitTask("long", 200, true, 0)); !r.OK {
		t.Fatalf("submit long: %+v", r)
	}
	q.waitFor(20*time.Second, "long past its second checkpoint", func(m map[string]task.Status) bool {
		return m["long"].State == task.StateRunning && m["long"].Progress >= 20
	})
	if r := q.submit(unitTask("short", 10, false, 0)); !r.OK {
		t.Fatalf("submit short: %+v", r)
	}
	final := q.waitFor(30*time.Second, "both tasks ended", func(m map[string]task.Status) bool {
		return task.Terminal(m["long"].State) && task.Terminal(m["short"].State)
	})
	l, s := final["long"], final["short"]
	if s.State != task.StateSucceeded || s.Attempt != 1 {
		t.Fatalf("short: %s after %d attempts (%s)", s.State, s.Attempt, s.Error)
	}
	if l.State != task.StateSucceeded || l.Attempt != 2 || len(l.Attempts) != 2 {
		t.Fatalf("long: %s, attempt %d, history %+v", l.State, l.Attempt, l.Attempts)
	}
	if r := l.Attempts[0].Reason; r != "preempted for short" {
		t.Errorf("long's first attempt ended %q, want preempted for short", r)
	}
	if from := l.Attempts[1].ResumedFrom; from < 20 {
		t.Errorf("long resumed from %d, want its last checkpoint (≥ 20)", from)
	}
	if got, want := q.ag.order(), []string{"long", "short", "long"}; !slices.Equal(got, want) {
		t.Errorf("runs at the node %v, want %v", got, want)
	}
}

// TestEDFRunsByDeadlineAndRefusesTheImpossible: placement.policy edf, one single-slot node
// busy with a first task. Tasks submitted due in 30 s, in none, in 10 s and in 20 s run in
// deadline order, the one without a deadline last; a task whose deadline the node cannot
// meet is refused at submission, naming the deadline, and never appears.
func TestEDFRunsByDeadlineAndRefusesTheImpossible(t *testing.T) {
	t.Parallel()
	q := newQueueSite(t, "edf")
	q.waitOnline()
	if r := q.submit(unitTask("first", 50, false, 0)); !r.OK {
		t.Fatalf("submit first: %+v", r)
	}
	q.waitFor(10*time.Second, "first running", func(m map[string]task.Status) bool { return m["first"].State == task.StateRunning })
	for _, s := range []task.Spec{unitTask("due30", 5, false, 30*time.Second), unitTask("none", 5, false, 0),
		unitTask("due10", 5, false, 10*time.Second), unitTask("due20", 5, false, 20*time.Second)} {
		if r := q.submit(s); !r.OK || r.State != task.StatePending {
			t.Fatalf("submit %s: %+v", s.ID, r)
		}
	}
	r := q.submit(unitTask("impossible", 1000, false, 5*time.Second)) // 20 s of work due in 5
	if r.OK || !strings.Contains(r.Error, "spec.deadline 5s cannot be met") {
		t.Errorf("impossible: %+v, want refused for its deadline", r)
	}
	final := q.waitFor(30*time.Second, "every task ended", func(m map[string]task.Status) bool {
		for _, id := range []string{"first", "due10", "due20", "due30", "none"} {
			if !task.Terminal(m[id].State) {
				return false
			}
		}
		return true
	})
	for id, st := range final {
		if st.State != task.StateSucceeded {
			t.Errorf("%s: %s (%s)", id, st.State, st.Error)
		}
	}
	if _, ok := final["impossible"]; ok {
		t.Error("the refused task has a status")
	}
	if got, want := q.ag.order(), []string{"first", "due10", "due20", "due30", "none"}; !slices.Equal(got, want) {
		t.Errorf("runs at the node %v, want %v", got, want)
	}
}

// waitOnline waits until the scheduler places on pi-one: its birth has been seen.
func (q *queueSite) waitOnline() {
	q.t.Helper()
	waitPlaceable(q.t, q.ops, q.topics, 10*time.Second, "pi-one")
}
