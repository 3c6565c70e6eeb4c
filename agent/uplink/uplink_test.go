package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/goleak"

	"github.com/tether-edge/tether/pkg/backoff"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
	"github.com/tether-edge/tether/pkg/testenv/mqtttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is an open in-process broker that records what is published.
type recorder struct {
	srv *mochi.Server
	url string

	mu   sync.Mutex
	msgs []packets.Packet
}

func startBroker(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{}
	r.srv, r.url = mqtttest.Start(t)
	if err := r.srv.Subscribe("tether/v1/#", 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		r.mu.Lock()
		r.msgs = append(r.msgs, pk)
		r.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

// waitFor returns the first recorded message on topic that satisfies ok.
func (r *recorder) waitFor(t *testing.T, topic string, ok func([]byte) bool) []byte {
	t.Helper()
	var found []byte
	testenv.Eventually(t, 5*time.Second, "a message matching on "+topic, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, pk := range r.msgs {
			if pk.TopicName == topic && ok(pk.Payload) {
				found = pk.Payload
				return true
			}
		}
		return false
	})
	return found
}

// births counts the online statuses of n1 that the uplink u published.
func (r *recorder) births(u *Uplink) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, pk := range r.msgs {
		if st := status(pk.Payload); pk.TopicName == "tether/v1/r1/nodes/n1/status" && st.Instance == u.Instance() && st.State == protocol.StateOnline {
			n++
		}
	}
	return n
}

// judged returns once u has handled every command published before it
// returns: command handlers run in arrival order, so once u has answered
// a rebirth command sent last, it has handled all before it.
func (r *recorder) judged(t *testing.T, u *Uplink) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, "the first birth", func() bool { return r.births(u) > 0 })
	n := r.births(u)
	if err := r.srv.Publish("tether/v1/r1/nodes/n1/cmd/rebirth", nil, false, 1); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "a birth answering the rebirth command", func() bool { return r.births(u) > n })
}

func newUplink(t *testing.T, url, node string) (*Uplink, func()) {
	t.Helper()
	return newUplinkWith(t, url, node, func(*Options) {})
}

// newUplinkWith starts an uplink whose options edit changed.
func newUplinkWith(t *testing.T, url, node string, edit func(*Options)) (*Uplink, func()) {
	t.Helper()
	opts := Options{Region: "r1", Node: node, Heartbeat: time.Minute,
		Facts:   protocol.Facts{Hostname: "h", OS: "linux", Arch: "arm64", Cores: 4, Tier: protocol.TierEdge, AgentVersion: "t"},
		Outbox:  testOutbox(t),
		Session: session.Options{Brokers: []string{url}, KeepAlive: 5 * time.Second, Backoff: backoff.Policy{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}}}
	edit(&opts)
	u, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if err := u.Session().WaitConnected(wctx); err != nil {
		stop()
		t.Fatal(err)
	}
	return u, stop
}

func status(b []byte) protocol.NodeStatus {
	st, _ := protocol.DecodeNodeStatus(b)
	return st
}

func TestBirthMetricsGoodbyeSequence(t *testing.T) {
	r := startBroker(t)
	u, stop := newUplink(t, r.url, "n1")
	birth := status(r.waitFor(t, "tether/v1/r1/nodes/n1/status", func(b []byte) bool { return status(b).State == protocol.StateOnline }))
	if birth.Seq != 0 || birth.Conn != 1 || birth.Instance != u.Instance() || birth.Facts == nil || birth.Facts.Arch != "arm64" || birth.HeartbeatS != 60 {
		t.Fatalf("birth %+v", birth)
	}
	if err := u.PublishMetrics(context.Background(), protocol.Metrics{CPU: protocol.CPU{Total: 5}}); err != nil {
		t.Fatal(err)
	}
	b := r.waitFor(t, "tether/v1/r1/nodes/n1/metrics", func([]byte) bool { return true })
	m, err := protocol.DecodeMetrics(b)
	if err != nil || m.Seq != 1 || m.Node != "n1" || m.Instance != u.Instance() {
		t.Fatalf("metrics %+v, %v", m, err)
	}
	stop()
	bye := status(r.waitFor(t, "tether/v1/r1/nodes/n1/status", func(b []byte) bool { return status(b).State == protocol.StateOffline }))
	if bye.Reason != protocol.ReasonShutdown || bye.Seq != 1 || bye.Conn != 1 {
		t.Fatalf("goodbye %+v", bye)
	}
	if err := u.PublishMetrics(context.Background(), protocol.Metrics{}); err != nil {
		t.Fatalf("PublishMetrics while disconnected must keep the report: %v", err)
	}
	if got := u.opts.Outbox.LastSeq(); got != 2 {
		t.Fatalf("outbox last seq %d, want 2", got)
	}
}

func TestRebirthCommand(t *testing.T) {
	r := startBroker(t)
	u, stop := newUplink(t, r.url, "n1")
	defer stop()
	r.waitFor(t, "tether/v1/r1/nodes/n1/status", func(b []byte) bool { return status(b).State == protocol.StateOnline })
	if err := r.srv.Publish("tether/v1/r1/nodes/n1/cmd/rebirth", nil, false, 1); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "a second birth after a rebirth command", func() bool { return r.births(u) >= 2 })
	if n := r.births(u); n != 2 {
		t.Fatalf("%d births, want 2 after a rebirth command", n)
	}
}

func TestAnotherInstanceOnOurNodeIDIsCounted(t *testing.T) {
	r := startBroker(t)
	u, stop := newUplink(t, r.url, "n1")
	defer stop()
	r.waitFor(t, "tether/v1/r1/nodes/n1/status", func(b []byte) bool { return status(b).State == protocol.StateOnline })
	foreign := protocol.NodeStatus{Header: protocol.Header{V: 1, Node: "n1", Instance: "someone-else", Seq: 9, TS: protocol.Now()},
		State: protocol.StateOnline, Conn: 1, Facts: &protocol.Facts{Arch: "armv7", Cores: 1, Tier: protocol.TierEdge}}
	b, _ := json.Marshal(foreign)
	if err := r.srv.Publish("tether/v1/r1/nodes/n1/status", b, false, 1); err != nil {
		t.Fatal(err)
	}
	notice, _ := json.Marshal(protocol.DuplicateNotice{V: 1, Node: "n1", Instances: []string{u.Instance(), "someone-else"}, TS: protocol.Now()})
	if err := r.srv.Publish("tether/v1/r1/nodes/n1/cmd/duplicate", notice, false, 1); err != nil {
		t.Fatal(err)
	}
	r.judged(t, u)
	if u.Duplicates() != 2 {
		t.Fatalf("duplicates seen = %d, want 2 (a foreign birth and the scheduler's notice)", u.Duplicates())
	}
	if err := r.srv.Publish("tether/v1/r1/nodes/n1/cmd/duplicate", []byte("garbage"), false, 1); err != nil {
		t.Fatal(err)
	}
	if err := r.srv.Publish("tether/v1/r1/nodes/n1/cmd/unknown", []byte("x"), false, 1); err != nil {
		t.Fatal(err)
	}
	r.judged(t, u)
	if u.Duplicates() != 2 || !u.Session().Connected() {
		t.Fatalf("garbage commands changed state: duplicates %d, connected %v", u.Duplicates(), u.Session().Connected())
	}
}

func TestNewRejectsBadIDs(t *testing.T) {
	ob := testOutbox(t)
	if _, err := New(Options{Region: "r", Node: "a/b", Outbox: ob, Session: session.Options{Brokers: []string{"tcp://x:1"}}}); err == nil {
		t.Fatal("node id with '/' accepted")
	}
	if _, err := New(Options{Region: "", Node: "a", Outbox: ob, Session: session.Options{Brokers: []string{"tcp://x:1"}}}); err == nil {
		t.Fatal("empty region accepted")
	}
	if _, err := New(Options{Region: "r", Node: "a", Session: session.Options{Brokers: []string{"tcp://x:1"}}}); err == nil {
		t.Fatal("no outbox accepted")
	}
}

// TestReportsMadeOfflineArriveInOrder drops the agent's connection, makes
// reports while it is away, and checks they all arrive after the reconnect,
// in sequence order, none missing.
func TestReportsMadeOfflineArriveInOrder(t *testing.T) {
	r := startBroker(t)
	u, stop := newUplink(t, r.url, "n1")
	defer stop()
	report := func() {
		if err := u.PublishMetrics(context.Background(), protocol.Metrics{CPU: protocol.CPU{Total: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	report()
	r.waitFor(t, "tether/v1/r1/nodes/n1/metrics", func([]byte) bool { return true })
	cl, ok := r.srv.Clients.Get("n1")
	if !ok {
		t.Fatal("n1 not connected")
	}
	cl.Stop(errors.New("test cuts the link"))
	for range 20 {
		report()
	}
	r.waitFor(t, "tether/v1/r1/nodes/n1/metrics", func(b []byte) bool {
		m, err := protocol.DecodeMetrics(b)
		return err == nil && m.Seq == 21
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	var last uint64
	for _, pk := range r.msgs {
		if pk.TopicName != "tether/v1/r1/nodes/n1/metrics" {
			continue
		}
		m, err := protocol.DecodeMetrics(pk.Payload)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case m.Seq <= last: // a redelivery after the cut: the scheduler drops it
		case m.Seq == last+1:
			last = m.Seq
		default:
			t.Fatalf("seq %d after %d: a report was lost", m.Seq, last)
		}
	}
	if last != 21 {
		t.Fatalf("last seq delivered %d, want 21", last)
	}
}

// TestEarlierRunOfThisAgentIsNoDuplicate: after a clean or a kill -9
// restart, the previous run's goodbye, will or late birth reaches the new
// run's status subscription; none of them is another agent.
func TestEarlierRunOfThisAgentIsNoDuplicate(t *testing.T) {
	r := startBroker(t)
	u, stop := newUplinkWith(t, r.url, "n1", func(o *Options) { o.StoreID = "store-1" })
	defer stop()
	r.waitFor(t, "tether/v1/r1/nodes/n1/status", func(b []byte) bool { return status(b).State == protocol.StateOnline })
	facts := &protocol.Facts{Arch: "arm64", Cores: 4, Tier: protocol.TierEdge}
	earlier := protocol.Header{V: 1, Node: "n1", Instance: "earlier-run", Store: "store-1", Seq: 0, TS: protocol.Now()}
	other := protocol.Header{V: 1, Node: "n1", Instance: "other-device", Store: "store-2", Seq: 0, TS: protocol.Now()}
	publish := func(st protocol.NodeStatus) {
		b, _ := json.Marshal(st)
		if err := r.srv.Publish("tether/v1/r1/nodes/n1/status", b, false, 1); err != nil {
			t.Fatal(err)
		}
	}
	publish(protocol.NodeStatus{Header: earlier, State: protocol.StateOffline, Reason: protocol.ReasonShutdown, Conn: 1})
	publish(protocol.NodeStatus{Header: earlier, State: protocol.StateOffline, Reason: protocol.ReasonLost, Conn: 2})
	publish(protocol.NodeStatus{Header: earlier, State: protocol.StateOnline, Conn: 1, Facts: facts})
	// A status left retained before this run subscribed, replayed late.
	b, _ := json.Marshal(protocol.NodeStatus{Header: other, State: protocol.StateOnline, Conn: 1, Facts: facts})
	u.onOwnStatus(session.Message{Topic: "tether/v1/r1/nodes/n1/status", Retained: true, Payload: b})
	// Then a real second agent's will (pushed off the shared session) and
	// birth: proof, both.
	publish(protocol.NodeStatus{Header: other, State: protocol.StateOffline, Reason: protocol.ReasonLost, Conn: 1})
	publish(protocol.NodeStatus{Header: other, State: protocol.StateOnline, Conn: 2, Facts: facts})
	r.judged(t, u)
	if got := u.Duplicates(); got != 2 {
		t.Fatalf("duplicates seen = %d, want 2: only the other device's live will and birth are proof", got)
	}
}
