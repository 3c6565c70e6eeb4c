package serve

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// floodNode is a fake agent for the flood test: a birth, then metrics and
// task events on one seq stream (its store), each published until the
// broker acknowledges it, as the agent's outbox does.
type floodNode struct {
	id     string
	sess   *session.Session
	topics protocol.Topics
	work   chan task.Assignment

	mu    sync.Mutex // guards acked
	acked uint64     // highest seq the broker acknowledged
}

func (n *floodNode) header(seq uint64) protocol.Header {
	return protocol.Header{V: 1, Node: n.id, Instance: "i-" + n.id, Store: "s-" + n.id, Seq: seq, TS: time.Now()}
}

// send publishes until acknowledged or ctx ends.
func (n *floodNode) send(ctx context.Context, topic string, seq uint64, v any) {
	b, _ := json.Marshal(v)
	for ctx.Err() == nil {
		if err := n.sess.Publish(ctx, session.Message{Topic: topic, QoS: 1, Payload: b}); err == nil {
			n.mu.Lock()
			n.acked = seq
			n.mu.Unlock()
			return
		}
	}
}

func (n *floodNode) lastAcked() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.acked
}

func startFloodNode(t *testing.T, url, id string, pub ed25519.PublicKey, topics protocol.Topics) *floodNode {
	n := &floodNode{id: id, sess: dial(t, url, id, id, "node-pw"), topics: topics, work: make(chan task.Assignment, 64)}
	if err := n.sess.Subscribe(context.Background(), topics.NodeCommands(id), 1, func(m session.Message) {
		env, err := task.DecodeEnvelope(m.Payload)
		if err != nil {
			return
		}
		if a, err := task.Verify([]ed25519.PublicKey{pub}, env, id, time.Now()); err == nil && a.Op == task.AssignRun {
			n.work <- a
		}
	}); err != nil {
		t.Fatal(err)
	}
	birth := protocol.NodeStatus{Header: n.header(0), State: protocol.StateOnline, Conn: 1, HeartbeatS: 60,
		Facts: &protocol.Facts{Hostname: id, OS: "linux", Arch: "arm64", Cores: 4, MemTotal: 4 << 30, AgentVersion: "t", Tier: "edge", TaskSlots: 4}}
	b, _ := json.Marshal(birth)
	if err := n.sess.Publish(context.Background(), session.Message{Topic: topics.NodeStatus(id), QoS: 1, Retained: true, Payload: b}); err != nil {
		t.Fatal(err)
	}
	return n
}

// report sends a metrics report every interval and answers assignments
// with running and succeeded, all in one seq stream, until ctx ends.
func (n *floodNode) report(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var seq uint64
	metrics := func() {
		seq++
		n.send(ctx, n.topics.NodeMetrics(n.id), seq, protocol.Metrics{Header: n.header(seq), CPU: protocol.CPU{Total: 10}, UptimeS: 100})
	}
	event := func(a task.Assignment, state string) {
		seq++
		n.send(ctx, n.topics.NodeTasks(n.id), seq, task.Event{Header: n.header(seq), Task: a.Task, Attempt: a.Attempt, State: state})
	}
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-n.work:
			event(a, task.EventRunning)
			event(a, task.EventSucceeded)
		case <-tick.C:
			metrics()
		}
	}
}

// flood publishes metrics as fast as the broker acknowledges them, with
// many in flight at once, until ctx ends; it returns the highest seq
// acknowledged with everything before it.
func (n *floodNode) flood(ctx context.Context, window int) {
	var seq uint64
	type sent struct {
		seq uint64
		inf *session.Inflight
	}
	var inflight []sent
	for ctx.Err() == nil {
		for len(inflight) < window {
			seq++
			b, _ := json.Marshal(protocol.Metrics{Header: n.header(seq), CPU: protocol.CPU{Total: 99}, UptimeS: seq})
			inf, err := n.sess.PublishAsync(session.Message{Topic: n.topics.NodeMetrics(n.id), QoS: 1, Payload: b})
			if err != nil {
				seq--
				break
			}
			inflight = append(inflight, sent{seq, inf})
		}
		if len(inflight) == 0 {
			_ = n.sess.WaitConnected(ctx) // not connected: publish again once reconnected (or stop)
			continue
		}
		if err := inflight[0].inf.Wait(context.Background()); err != nil {
			return // a message not acknowledged: nothing after it counts
		}
		n.mu.Lock()
		n.acked = inflight[0].seq
		n.mu.Unlock()
		inflight = inflight[1:]
	}
	for _, s := range inflight {
		if s.inf.Wait(context.Background()) != nil {
			return
		}
		n.mu.Lock()
		n.acked = s.seq
		n.mu.Unlock()
	}
}

// TestFloodLosesNothingAcknowledged: one node floods QoS 1 metrics at the
// embedded broker's limit while 50 others report every 100 ms and run
// tasks. Every message the broker acknowledged reaches the scheduler: no
// node's stream has a gap or a hole (the flooder's neither), and every
// task's events are applied (each task ends succeeded). The broker holds
// the flooder instead of dropping what its session with the scheduler
// cannot take.
func TestFloodLosesNothingAcknowledged(t *testing.T) {
	const nodes, tasks = 50, 20
	s := newSiteWith(t, func(users map[string]string) {
		for i := range nodes {
			users[fmt.Sprintf("pi-%02d", i)] = "node-pw"
		}
		users["flood"] = "node-pw"
	})
	topics, _ := protocol.NewTopics("default")
	pub := s.key.Public().(ed25519.PublicKey)
	mon := dial(t, s.url, "ops@flood", "ops", "ops-pw")
	var tmu sync.Mutex
	rows := map[string]protocol.FleetNode{} // the fleet view's rows
	states := map[string]string{}
	if err := mon.Subscribe(context.Background(), topics.AllFleetRows(), 1, func(m session.Message) {
		if r, err := protocol.DecodeFleetRow(m.Payload); err == nil {
			tmu.Lock()
			rows[r.Node] = r.FleetNode
			tmu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := mon.Subscribe(context.Background(), topics.AllTaskStatus(), 1, func(m session.Message) {
		if st, err := task.DecodeStatus(m.Payload); err == nil {
			tmu.Lock()
			states[st.Task] = st.State
			tmu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}

	all := make([]*floodNode, 0, nodes+1)
	for i := range nodes {
		all = append(all, startFloodNode(t, s.url, fmt.Sprintf("pi-%02d", i), pub, topics))
	}
	flooder := startFloodNode(t, s.url, "flood", pub, topics)
	all = append(all, flooder)

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for _, n := range all[:nodes] {
		wg.Add(1)
		go func() { defer wg.Done(); n.report(ctx, 100*time.Millisecond) }()
	}
	floodCtx, stopFlood := context.WithCancel(ctx)
	defer stopFlood()
	wg.Add(1)
	go func() { defer wg.Done(); flooder.flood(floodCtx, 512) }()

	for i := range tasks {
		// Submissions spread over the flood: one per 100 messages it had acknowledged.
		testenv.Eventually(t, time.Minute, "the flood under way", func() bool { return flooder.lastAcked() >= uint64(i)*100 })
		id := fmt.Sprintf("flood-task-%02d", i)
		publishJSON(t, mon, topics.TaskSubmit(), task.SubmitRequest{V: 1, RequestID: id, ReplyTo: topics.Reply("ops", id),
			Spec: task.Spec{ID: id, Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 1}}})
	}
	testenv.Eventually(t, 2*time.Minute, "the flooder sent 5,000 messages", func() bool { return flooder.lastAcked() >= 5000 })
	stopFlood()
	testenv.Eventually(t, 60*time.Second, "every task succeeded", func() bool {
		tmu.Lock()
		defer tmu.Unlock()
		for i := range tasks {
			if states[fmt.Sprintf("flood-task-%02d", i)] != task.StateSucceeded {
				return false
			}
		}
		return true
	})
	stop()
	wg.Wait()

	// Every node's last acknowledged message reached the scheduler, and
	// none before it is missing.
	var bad []string
	if !testenv.Within(60*time.Second, func() bool {
		tmu.Lock()
		defer tmu.Unlock()
		bad = bad[:0]
		for _, n := range all {
			r := rows[n.id]
			if r.Seq < n.lastAcked() || r.Gaps != 0 || r.Missing != 0 {
				bad = append(bad, fmt.Sprintf("%s: acked %d, scheduler seq %d gaps %d missing %d", n.id, n.lastAcked(), r.Seq, r.Gaps, r.Missing))
			}
		}
		return len(bad) == 0
	}) {
		t.Fatalf("acknowledged messages lost: %d of %d nodes:\n%s", len(bad), len(all), strings.Join(bad, "\n"))
	}
	t.Logf("flooder: %d messages acknowledged and received", flooder.lastAcked())
}
