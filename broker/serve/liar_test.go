package serve

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// liarLoad is what a liar was given: attempts per task, and the most
// attempts it held at once (assigned and not yet cancelled).
type liarLoad struct {
	perTask sync.Map // task → attempts assigned
	maxHeld atomic.Int64
}

// startLiar connects a node that claims 4096 cores and slots and a speed
// of 1000, accepts every assignment, reports it running, and never does
// any of it. It counts what it got. edit changes the facts of its birth.
func startLiar(t *testing.T, url, id string, topics protocol.Topics, edit ...func(*protocol.Facts)) *liarLoad {
	got := &liarLoad{}
	sess := dial(t, url, id, id, "node-pw")
	work := make(chan task.Assignment, 1<<12)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	if err := sess.Subscribe(ctx, topics.NodeCommands(id), 1, func(m session.Message) {
		env, err := task.DecodeEnvelope(m.Payload)
		if err != nil {
			return
		}
		var a task.Assignment
		if json.Unmarshal(env.Body, &a) == nil {
			work <- a
		}
	}); err != nil {
		t.Fatal(err)
	}
	facts := &protocol.Facts{Hostname: id, OS: "linux", Arch: "arm64", Cores: 4096, TaskSlots: 4096, MemTotal: 1 << 40,
		AgentVersion: "t", Tier: "edge", Labels: map[string]string{"tether.speed": "1000", "tether.slots": "1024"}}
	for _, e := range edit {
		e(facts)
	}
	birth, _ := json.Marshal(protocol.NodeStatus{Header: protocol.Header{V: 1, Node: id, Instance: "i-" + id, TS: time.Now()},
		State: protocol.StateOnline, Conn: 1, HeartbeatS: 60, Facts: facts})
	if err := sess.Publish(ctx, session.Message{Topic: topics.NodeStatus(id), QoS: 1, Retained: true, Payload: birth}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		var seq uint64
		held := map[string]bool{} // task/attempt
		for {
			select {
			case <-ctx.Done():
				return
			case a := <-work:
				key := fmt.Sprintf("%s/%d", a.Task, a.Attempt)
				if a.Op == task.AssignCancel {
					delete(held, key)
					continue
				}
				if a.Op != task.AssignRun || held[key] {
					continue
				}
				held[key] = true
				if n := int64(len(held)); n > got.maxHeld.Load() {
					got.maxHeld.Store(n)
				}
				n, _ := got.perTask.LoadOrStore(a.Task, 0)
				got.perTask.Store(a.Task, n.(int)+1)
				for _, state := range []string{task.EventAccepted, task.EventRunning} {
					seq++
					b, _ := json.Marshal(task.Event{Header: protocol.Header{V: 1, Node: id, Instance: "i-" + id, Store: "s-" + id,
						Seq: seq, TS: time.Now()}, Task: a.Task, Attempt: a.Attempt, State: state})
					_ = sess.Publish(ctx, session.Message{Topic: topics.NodeTasks(id), QoS: 1, Payload: b})
				}
			}
		}
	}()
	return got
}

// TestLyingNodeCapturesNothing: a node that claims 4096 slots and a
// speed of 1000 and never works, among honest agents: it holds at most
// the slots the operator allows, its attempts are ended when they show
// no progress, it is quarantined, and every task succeeds exactly once on
// an honest node.
func TestLyingNodeCapturesNothing(t *testing.T) {
	t.Parallel()
	spec := func(id string) task.Spec {
		return task.Spec{ID: id, Kind: task.KindBuiltin, Checkpointable: true, Work: 0.01,
			Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 10, UnitMS: 1, CheckpointEvery: 1}}
	}
	testLyingNode(t, spec)
}

// TestSilentAttemptsEnded: the same liar, announcing in its facts that
// it reports progress every second, given tasks that promise no
// checkpoints (a builtin that is not checkpointable): it sends no
// progress event, so its attempts are ended within the progress timeout
// rather than held until the spec's hour, it is quarantined, and every
// task succeeds once on an honest node.
func TestSilentAttemptsEnded(t *testing.T) {
	t.Parallel()
	spec := func(id string) task.Spec {
		return task.Spec{ID: id, Kind: task.KindBuiltin, Work: 0.01,
			Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 10, UnitMS: 1}}
	}
	testLyingNode(t, spec, func(f *protocol.Facts) { f.TaskProgressS = 1 })
}

func testLyingNode(t *testing.T, spec func(id string) task.Spec, edit ...func(*protocol.Facts)) {
	const honest, tasks = 3, 20
	s := newSiteCfg(t, func(users map[string]string) {
		users["liar"] = "node-pw"
		for i := range honest {
			users[fmt.Sprintf("pi-%02d", i)] = "node-pw"
		}
	}, func(c *config.Config) {
		c.Tasks.MaxSlotsPerNode = 4
		c.Tasks.StartTimeout, c.Tasks.ProgressTimeout = time.Second, time.Second
		c.Tasks.QuarantineAfter, c.Tasks.Quarantine = 3, time.Hour
		// Tether may commit tasks beyond a node's slots to its queue, to a
		// liar as to any node: a queue of one keeps the bounds below tight.
		c.Placement.NodeQueue = 1
	})
	topics, _ := protocol.NewTopics("default")
	liar := startLiar(t, s.url, "liar", topics, edit...)
	pub := s.key.Public().(ed25519.PublicKey)
	nodes := []string{"liar"}
	for i := range honest {
		nodes = append(nodes, fmt.Sprintf("pi-%02d", i))
		startSlotAgent(t, s.url, nodes[i+1], 1, pub, topics)
	}
	ops := dial(t, s.url, "ops@t", "ops", "ops-pw")
	statuses := listen(t, ops, topics.AllTaskStatus())
	replies := listen(t, ops, topics.Replies("ops"))
	waitPlaceable(t, ops, topics, 10*time.Second, nodes...) // every birth in before the first submission
	for i := range tasks {
		id := fmt.Sprintf("job-%02d", i)
		publishJSON(t, ops, topics.TaskSubmit(), task.SubmitRequest{V: 1, RequestID: id, ReplyTo: topics.Reply("ops", id), Spec: spec(id)})
	}
	final := map[string]task.Status{}
	if !testenv.Within(60*time.Second, func() bool {
		for _, m := range statuses.all() {
			if st, err := task.DecodeStatus(m.Payload); err == nil && task.Terminal(st.State) {
				final[st.Task] = st
			}
		}
		return len(final) >= tasks
	}) {
		t.Fatalf("%d of %d tasks finished within 60 s", len(final), tasks)
	}
	liarTasks := 0
	for id, st := range final {
		if st.State != task.StateSucceeded || st.Node == "liar" {
			t.Fatalf("%s ended %s on %s: %s", id, st.State, st.Node, st.Error)
		}
		for _, a := range st.Attempts {
			if a.Node == "liar" {
				liarTasks++
			}
		}
	}
	assigned := 0
	liar.perTask.Range(func(_, v any) bool { assigned += v.(int); return true })
	// Ranked fastest by its (clamped) speed, the liar fills its 4 allowed
	// slots and its node queue first. It never holds more than those; a
	// place freed by the first timed-out attempts may be refilled before
	// the third failure quarantines it, so at most 4 + queue + 2 in all,
	// and at least the 3 whose failures quarantine it.
	queue := s.cfg.Placement.EngineNodeQueue()
	if held := liar.maxHeld.Load(); held > int64(4+queue) {
		t.Errorf("the liar held %d attempts at once; its allowed slots are 4 and its queue %d", held, queue)
	}
	if assigned < 3 || assigned > 4+queue+2 || liarTasks != assigned {
		t.Errorf("the liar was assigned %d attempts (%d in the histories), want 3 to %d: 4 slots, a queue of %d, quarantined after 3 failures",
			assigned, liarTasks, 4+queue+2, queue)
	}

	// The scheduler says the liar is quarantined.
	publishJSON(t, ops, topics.TaskControl(), task.ControlRequest{V: 1, RequestID: "q", ReplyTo: topics.Reply("ops", "q"), Op: task.OpQuarantine})
	var r task.Reply
	testenv.Eventually(t, 5*time.Second, "the quarantine reply", func() bool {
		for _, m := range replies.all() {
			if m.Topic == topics.Reply("ops", "q") {
				var err error
				r, err = task.DecodeReply(m.Payload)
				return err == nil
			}
		}
		return false
	})
	if !r.OK || len(r.Quarantine) != 1 || r.Quarantine[0].Node != "liar" {
		t.Fatalf("quarantine: %+v", r)
	}
	// Monitors see it retained, as tether-broker nodes shows it.
	mon := dial(t, s.url, "monitor@t", "monitor", "mon-pw")
	ql := listen(t, mon, topics.TaskQuarantine())
	testenv.Eventually(t, 5*time.Second, "the retained quarantine list names the liar", func() bool {
		for _, m := range ql.all() {
			if l, err := task.DecodeQuarantineList(m.Payload); err == nil && len(l.Nodes) == 1 && l.Nodes[0].Node == "liar" {
				return true
			}
		}
		return false
	})
}
