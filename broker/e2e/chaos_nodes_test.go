package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/backoff"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
)

// The parties of TestChaos other than real agents: honest simulated
// agents, the three hostile nodes, the bare-connection attack and the
// monitor that watches the fleet view. Every one of them connects before
// any fault starts, and every loop ends with its context; every publish
// is bounded by a timeout, so no fault can hang the test.

// chaosLabels mark the nodes tasks may go to (TestChaos's specs ask for
// them): honest workers and the liar, which claims to be one.
var chaosLabels = map[string]string{"chaos.role": "worker"}

// simRecord is a report or task event made and not yet acknowledged.
type simRecord struct {
	seq     uint64
	topic   string
	payload []byte
	task    string // a succeeded event's task
	attempt uint32
}

// acked is an acknowledgement: the record's seq and when the broker's
// PUBACK arrived.
type acked struct {
	seq uint64
	at  time.Time
}

// simNode is an honest simulated agent, as the agent behaves on the wire:
// one seq stream (its store) for metrics and task events, an outbox whose
// records are published in order until the broker acknowledges each, a
// birth stamped with the stream's position on every connection and on a
// rebirth request, a will. A worker runs what it is assigned: running,
// then succeeded. skew is added to its wall clock (a Pi without an RTC
// whose clock NTP steps); its uptime stays true.
type simNode struct {
	id, pw   string
	worker   bool
	topics   protocol.Topics
	keys     []ed25519.PublicKey
	started  time.Time
	skew     atomic.Int64 // ns
	quiet    atomic.Bool  // makes no more reports
	conn     atomic.Uint32
	sess     *session.Session
	wake     chan struct{}
	assigned chan task.Assignment

	mu        sync.Mutex
	seq       uint64      // last made
	outbox    []simRecord // made, not acknowledged, in order
	acks      []acked
	succeeded map[string]uint32 // task → attempt whose succeeded event was acknowledged
	ran       map[string]bool   // task/attempt handled
}

func (n *simNode) now() time.Time {
	return time.Now().Add(time.Duration(n.skew.Load())).Truncate(time.Millisecond)
}

// header stamps a message of seq; the caller holds mu.
func (n *simNode) header(seq uint64) protocol.Header {
	from := seq
	if len(n.outbox) > 0 {
		from = n.outbox[0].seq
	}
	if seq == 0 {
		from = 0
	}
	return protocol.Header{V: protocol.Version, Node: n.id, Instance: "i-" + n.id, Store: "s-" + n.id, Boot: "b-" + n.id,
		UpMS: uint64(time.Since(n.started).Milliseconds()) + 1000, Seq: seq, From: from, TS: n.now()}
}

func (n *simNode) status(state, reason string, conn uint32) []byte {
	n.mu.Lock()
	st := protocol.NodeStatus{Header: n.header(n.seq), State: state, Reason: reason, Conn: conn}
	n.mu.Unlock()
	if state == protocol.StateOnline {
		st.HeartbeatS = 5
		st.Facts = &protocol.Facts{Hostname: n.id, OS: "linux", Arch: "arm64", Cores: 4, TaskSlots: 2, MemTotal: 4 << 30,
			AgentVersion: "sim", Tier: protocol.TierEdge}
		if n.worker {
			st.Facts.Labels = chaosLabels
		}
	}
	b, _ := json.Marshal(st)
	return b
}

func (n *simNode) birth(s *session.Session) {
	_, _ = s.PublishAsync(session.Message{Topic: n.topics.NodeStatus(n.id), QoS: 1, Retained: true,
		Payload: n.status(protocol.StateOnline, "", n.conn.Load())})
}

// make appends a record to the outbox.
func (n *simNode) make(topic string, build func(protocol.Header) any, taskID string, attempt uint32) {
	n.mu.Lock()
	n.seq++
	b, _ := json.Marshal(build(n.header(n.seq)))
	n.outbox = append(n.outbox, simRecord{seq: n.seq, topic: topic, payload: b, task: taskID, attempt: attempt})
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func startSimNode(t *testing.T, ctx context.Context, url, id, pw string, worker bool, keys []ed25519.PublicKey) *simNode {
	topics, _ := protocol.NewTopics("default")
	n := &simNode{id: id, pw: pw, worker: worker, topics: topics, keys: keys, started: time.Now(),
		wake: make(chan struct{}, 1), assigned: make(chan task.Assignment, 64), succeeded: map[string]uint32{}, ran: map[string]bool{}}
	sess, err := session.New(session.Options{Brokers: []string{url}, ClientID: id, Username: id, Password: pw, CleanSession: true,
		KeepAlive: 5 * time.Second, ConnectTimeout: 3 * time.Second, OpTimeout: 5 * time.Second,
		Backoff: backoff.Policy{Min: 200 * time.Millisecond, Max: 2 * time.Second},
		Will: func() *session.Message {
			return &session.Message{Topic: topics.NodeStatus(id), QoS: 1, Retained: true,
				Payload: n.status(protocol.StateOffline, protocol.ReasonLost, n.conn.Load()+1)}
		},
		OnConnect: func(s *session.Session) { n.conn.Add(1); n.birth(s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	n.sess = sess
	if err := sess.Subscribe(ctx, topics.NodeCommands(id), 1, n.command); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Go(func() { _ = sess.Run(ctx) })
	wg.Go(func() { n.send(ctx) })
	wg.Go(func() { n.work(ctx) })
	return n
}

func (n *simNode) command(m session.Message) {
	if strings.HasSuffix(m.Topic, "/"+protocol.CmdRebirth) {
		n.birth(n.sess)
		return
	}
	if !strings.HasSuffix(m.Topic, "/"+protocol.CmdTask) || !n.worker {
		return
	}
	env, err := task.DecodeEnvelope(m.Payload)
	if err != nil {
		return
	}
	if a, err := task.Verify(n.keys, env, n.id, n.now()); err == nil && a.Op == task.AssignRun {
		select {
		case n.assigned <- a:
		default:
		}
	}
}

// work reports metrics every 500 ms and runs assignments.
func (n *simNode) work(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var up uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if n.quiet.Load() {
				continue
			}
			up++
			n.make(n.topics.NodeMetrics(n.id), func(h protocol.Header) any {
				return protocol.Metrics{Header: h, CPU: protocol.CPU{Total: float64(up % 100)}, UptimeS: up}
			}, "", 0)
		case a := <-n.assigned:
			key := fmt.Sprintf("%s/%d", a.Task, a.Attempt)
			n.mu.Lock()
			dup := n.ran[key]
			n.ran[key] = true
			n.mu.Unlock()
			if dup {
				continue
			}
			event := func(state string, res *task.Result) {
				n.make(n.topics.NodeTasks(n.id), func(h protocol.Header) any {
					return task.Event{Header: h, Task: a.Task, Attempt: a.Attempt, State: state, Result: res}
				}, map[bool]string{true: a.Task}[state == task.EventSucceeded], a.Attempt)
			}
			event(task.EventRunning, nil)
			event(task.EventSucceeded, &task.Result{DurationMS: 1})
		}
	}
}

// send publishes the outbox in order, each record until acknowledged.
func (n *simNode) send(ctx context.Context) {
	for ctx.Err() == nil {
		n.mu.Lock()
		var r simRecord
		ok := len(n.outbox) > 0
		if ok {
			r = n.outbox[0]
		}
		n.mu.Unlock()
		if !ok {
			select {
			case <-ctx.Done():
			case <-n.wake:
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := n.sess.Publish(pctx, session.Message{Topic: r.topic, QoS: 1, Payload: r.payload})
		cancel()
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		n.mu.Lock()
		n.outbox = n.outbox[1:]
		n.acks = append(n.acks, acked{r.seq, time.Now()})
		if r.task != "" {
			n.succeeded[r.task] = r.attempt
		}
		n.mu.Unlock()
	}
}

// position returns the last seq made and how many records wait.
func (n *simNode) position() (made uint64, pending int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.seq, len(n.outbox)
}

// dialNode connects a hostile node's session (with the session's own
// reconnects) and returns it once connected.
func dialNode(t *testing.T, ctx context.Context, url, id, pw string) *session.Session {
	t.Helper()
	sess, err := session.New(session.Options{Brokers: []string{url}, ClientID: id, Username: id, Password: pw, CleanSession: true,
		KeepAlive: 5 * time.Second, ConnectTimeout: 3 * time.Second, OpTimeout: 3 * time.Second,
		Backoff: backoff.Policy{Min: 200 * time.Millisecond, Max: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Go(func() { _ = sess.Run(ctx) })
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := sess.WaitConnected(wctx); err != nil {
		t.Fatalf("%s cannot connect: %v", id, err)
	}
	return sess
}

// leaveAwayWatcher connects a monitor with a persistent session, subscribes
// it to the whole region at QoS 1 and leaves: its offline queue on the
// broker fills within seconds of the run, and must hold nobody.
func leaveAwayWatcher(t *testing.T, url, pw string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := session.New(session.Options{Brokers: []string{url}, ClientID: "monitor@away", Username: "monitor", Password: pw,
		KeepAlive: 5 * time.Second, ConnectTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Run(ctx) }()
	if err := sess.WaitConnected(ctx); err != nil {
		t.Fatalf("the away monitor cannot connect: %v", err)
	}
	if err := sess.Subscribe(ctx, protocol.Root+"/#", 1, func(session.Message) {}); err != nil {
		t.Fatalf("the away monitor cannot subscribe: %v", err)
	}
	cancel()
	<-done
}

// publishBounded publishes and waits at most 2 s for the acknowledgement.
func publishBounded(ctx context.Context, s *session.Session, m session.Message) error {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.Publish(pctx, m)
}

func hostileBirth(id string, facts *protocol.Facts) []byte {
	b, _ := json.Marshal(protocol.NodeStatus{Header: protocol.Header{V: 1, Node: id, Instance: "i-" + id, TS: protocol.Now()},
		State: protocol.StateOnline, Conn: 1, HeartbeatS: 60, Facts: facts})
	return b
}

// flood is the flooding node: a valid birth, then metrics as fast as the
// broker acknowledges them with 64 in flight, and every 2,000 of them a
// packet beyond the clients' maximum size and a retained publish outside
// its topics. It counts what the broker acknowledged.
func flood(ctx context.Context, sess *session.Session, id string, topics protocol.Topics, count *atomic.Int64) {
	facts := &protocol.Facts{Hostname: id, OS: "linux", Arch: "arm64", Cores: 4, TaskSlots: 4, MemTotal: 1 << 30, AgentVersion: "t", Tier: "edge"}
	_ = publishBounded(ctx, sess, session.Message{Topic: topics.NodeStatus(id), QoS: 1, Retained: true, Payload: hostileBirth(id, facts)})
	var seq uint64
	var window []*session.Inflight
	for ctx.Err() == nil {
		seq++
		if seq%2000 == 0 {
			big := make([]byte, 300<<10)
			_ = publishBounded(ctx, sess, session.Message{Topic: topics.NodeMetrics(id), QoS: 1, Payload: big})
			_ = publishBounded(ctx, sess, session.Message{Topic: topics.NodeStatus(id) + "/junk", QoS: 1, Retained: true, Payload: big[:100<<10]})
		}
		b, _ := json.Marshal(protocol.Metrics{Header: protocol.Header{V: 1, Node: id, Instance: "i-" + id, Store: "s-" + id, Seq: seq, TS: protocol.Now()},
			CPU: protocol.CPU{Total: 99}, UptimeS: seq})
		f, err := sess.PublishAsync(session.Message{Topic: topics.NodeMetrics(id), QoS: 1, Payload: b})
		if err != nil {
			window = window[:0]
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		window = append(window, f)
		if len(window) >= 64 {
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if window[0].Wait(wctx) == nil {
				count.Add(1)
			}
			cancel()
			window = window[1:]
		}
	}
}

// garbage is the garbage node: what a broken or hostile node has sent —
// junk, times that cannot be written back, seq 2⁶⁴−1, a huge task_slots,
// instance ids cycling, publishes to $SYS and to the scheduler's request
// topics, retained junk in its subtree — each bounded by a timeout, in a
// loop.
func garbage(ctx context.Context, sess *session.Session, id string, topics protocol.Topics, rounds *atomic.Int64) {
	const farFuture, yearZero = "9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+23:59"
	head := `{"v":1,"node":"` + id + `","instance":"i-` + id + `","store":"s-` + id + `",`
	msgs := []session.Message{
		{Topic: topics.NodeMetrics(id), Payload: []byte("\x00\xff not json")},
		{Topic: topics.NodeMetrics(id), Payload: []byte(head + `"seq":1,"ts":"` + farFuture + `","cpu":{"total":1},"mem":{},"uptime_s":1}`)},
		{Topic: topics.NodeMetrics(id), Payload: []byte(head + `"seq":18446744073709551615,"ts":"2026-11-27T09:30:00Z","cpu":{"total":1},"mem":{},"uptime_s":1}`)},
		{Topic: topics.NodeStatus(id), Retained: true, Payload: []byte(head + `"state":"online","conn":1,"seq":0,"ts":"2026-11-27T09:30:00Z","recovery":{"at":"` + yearZero + `","reason":"x"},"facts":{"arch":"arm64","cores":4,"tier":"edge","task_slots":1000000}}`)},
		{Topic: topics.NodeTasks(id), Payload: []byte(head + `"seq":2,"ts":"2026-11-27T09:30:00Z","task":"nope","attempt":1,"state":"succeeded"}`)},
		{Topic: "$SYS/broker/junk", Payload: []byte("x")},
		{Topic: topics.TaskSubmit(), Payload: []byte(`{"v":1,"request_id":"r","reply_to":"` + topics.Reply(id, "r") + `","spec":{"id":"evil","kind":"builtin","builtin":{"name":"sleep","units":1}}}`)},
		{Topic: topics.NodeStatus(id) + "/junk", Retained: true, Payload: make([]byte, 64<<10)},
	}
	for i := 0; ctx.Err() == nil; i++ {
		for _, m := range msgs {
			m.QoS = 1
			_ = publishBounded(ctx, sess, m)
		}
		// A birth with a new instance id each round.
		cycled := strings.Replace(string(msgs[3].Payload), `"instance":"i-`+id+`"`, fmt.Sprintf(`"instance":"c-%d"`, i), 1)
		_ = publishBounded(ctx, sess, session.Message{Topic: topics.NodeStatus(id), QoS: 1, Payload: []byte(cycled)})
		rounds.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// liarCount is what the liar was given: attempts in all, and the most it
// held at once (assigned and not yet cancelled).
type liarCount struct {
	attempts, held, maxHeld atomic.Int64
}

// liar claims 4096 cores and slots at speed 1000, accepts every
// assignment, says it runs it and never does any of it; it counts what it
// was given.
func liar(ctx context.Context, sess *session.Session, id string, topics protocol.Topics, got *liarCount) error {
	work := make(chan task.Assignment, 1<<12)
	if err := sess.Subscribe(ctx, topics.NodeCommands(id), 1, func(m session.Message) {
		env, err := task.DecodeEnvelope(m.Payload)
		if err != nil {
			return
		}
		var a task.Assignment
		if json.Unmarshal(env.Body, &a) == nil {
			select {
			case work <- a:
			default:
			}
		}
	}); err != nil {
		return err
	}
	labels := map[string]string{"tether.speed": "1000"}
	for k, v := range chaosLabels {
		labels[k] = v
	}
	facts := &protocol.Facts{Hostname: id, OS: "linux", Arch: "arm64", Cores: 4096, TaskSlots: 4096, MemTotal: 1 << 40,
		AgentVersion: "t", Tier: "edge", Labels: labels}
	if err := publishBounded(ctx, sess, session.Message{Topic: topics.NodeStatus(id), QoS: 1, Retained: true, Payload: hostileBirth(id, facts)}); err != nil {
		return err
	}
	go func() {
		seen := map[string]bool{}
		var seq uint64
		for {
			select {
			case <-ctx.Done():
				return
			case a := <-work:
				key := fmt.Sprintf("%s/%d", a.Task, a.Attempt)
				if a.Op == task.AssignCancel {
					if seen[key] {
						delete(seen, key)
						got.held.Add(-1)
					}
					continue
				}
				if seen[key] {
					continue
				}
				seen[key] = true
				got.attempts.Add(1)
				if h := got.held.Add(1); h > got.maxHeld.Load() {
					got.maxHeld.Store(h)
				}
				for _, state := range []string{task.EventAccepted, task.EventRunning} {
					seq++
					b, _ := json.Marshal(task.Event{Header: protocol.Header{V: 1, Node: id, Instance: "i-" + id, Store: "s-" + id,
						Seq: seq, TS: protocol.Now()}, Task: a.Task, Attempt: a.Attempt, State: state})
					_ = publishBounded(ctx, sess, session.Message{Topic: topics.NodeTasks(id), QoS: 1, Payload: b})
				}
			}
		}
	}()
	return nil
}

// bareConnections opens up to perAddr plain TCP connections (no CONNECT)
// to addr from each of addrs loopback source addresses (127.0.0.2 on), so
// the broker's per-address limit does not stop them first; it returns the
// connections it got. Each dial is bounded by a second.
func bareConnections(ctx context.Context, addr string, addrs, perAddr int) []net.Conn {
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	for a := range addrs {
		wg.Go(func() {
			d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, byte(a/250), byte(2+a%250))}}
			for range perAddr {
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return conns
}

// rowSeen is a fleet row as the monitor received it.
type rowSeen struct {
	at  time.Time
	row protocol.FleetRow
}

// fleetWatch is a monitor following the retained fleet rows and summary,
// across the scheduler's restarts.
type fleetWatch struct {
	mu        sync.Mutex
	rows      map[string][]rowSeen
	summaries []time.Time
	bad       []string
}

func watchFleet(t *testing.T, ctx context.Context, url, pw string) *fleetWatch {
	w := &fleetWatch{rows: map[string][]rowSeen{}}
	topics, _ := protocol.NewTopics("default")
	sess, err := session.New(session.Options{Brokers: []string{url}, ClientID: "monitor@chaos", Username: "monitor", Password: pw,
		CleanSession: true, KeepAlive: 5 * time.Second, ConnectTimeout: 3 * time.Second,
		Backoff: backoff.Policy{Min: 200 * time.Millisecond, Max: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Subscribe(ctx, topics.AllFleetRows(), 1, func(m session.Message) {
		if len(m.Payload) == 0 {
			return
		}
		r, err := protocol.DecodeFleetRow(m.Payload)
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			w.bad = append(w.bad, fmt.Sprintf("%s: %v", m.Topic, err))
			return
		}
		w.rows[r.Node] = append(w.rows[r.Node], rowSeen{time.Now(), r})
	}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Subscribe(ctx, topics.FleetSummary(), 1, func(m session.Message) {
		if _, err := protocol.DecodeFleetSummary(m.Payload); err != nil {
			w.mu.Lock()
			w.bad = append(w.bad, fmt.Sprintf("summary: %v", err))
			w.mu.Unlock()
			return
		}
		w.mu.Lock()
		w.summaries = append(w.summaries, time.Now())
		w.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Go(func() { _ = sess.Run(ctx) })
	return w
}

// latest returns each node's latest row.
func (w *fleetWatch) latest() map[string]protocol.FleetRow {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]protocol.FleetRow, len(w.rows))
	for id, rs := range w.rows {
		out[id] = rs[len(rs)-1].row
	}
	return out
}

// history describes the last n rows of node the monitor received, oldest
// first: what a failure message needs to tell a stale row from a lost
// backlog.
func (w *fleetWatch) history(node string, n int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	rs := w.rows[node]
	rs = rs[max(0, len(rs)-n):]
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "\n\t%s seq %d missing %d gaps %d online %v (scheduler %s, ts %s)", r.at.Format("15:04:05.000"),
			r.row.Seq, r.row.Missing, r.row.Gaps, r.row.Online, r.row.Scheduler, r.row.TS.Format("15:04:05.000"))
	}
	return b.String()
}

// lag returns how long after at a row of node first showed seq or later
// (false: never).
func (w *fleetWatch) lag(node string, seq uint64, at time.Time) (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.rows[node] {
		if r.row.Seq >= seq && r.row.Online {
			return max(0, r.at.Sub(at)), true
		}
	}
	return 0, false
}
