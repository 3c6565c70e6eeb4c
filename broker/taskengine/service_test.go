package taskengine

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/broker/mqttd/mqttdtest"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

func TestPublisherQueue(t *testing.T) {
	t.Parallel()
	p := newPublisher(nil, testenv.Logger(t, slog.LevelWarn), func(string) {})
	msg := func(topic, payload string, retained bool) Message {
		return Message{Message: session.Message{Topic: topic, Retained: retained, Payload: []byte(payload)}}
	}
	p.enqueue([]Message{msg("s/1", "a1", true), msg("r/1", "reply", false), msg("s/2", "b1", true)})
	p.enqueue([]Message{msg("s/1", "a2", true), msg("s/3", "c1", true)})
	got := p.take()
	var out []string
	for _, m := range got {
		out = append(out, m.Topic+"="+string(m.Payload))
	}
	// The reply, queued second, goes first: statuses wait behind replies
	// and assignments.
	if want := "[r/1=reply s/1=a2 s/2=b1 s/3=c1]"; mustJSONList(out) != want {
		t.Fatalf("queue %v, want %s", out, want)
	}
	// A failed status goes back in front, unless a newer one came (s/2)
	// or was handed over after it (s/3).
	p.enqueue([]Message{msg("s/2", "b2", true)})
	failed := errors.New("connection lost")
	for _, h := range got {
		switch h.Topic {
		case "s/3":
			continue
		case "s/1", "s/2":
			p.done(h, failed)
		default:
			p.done(h, nil)
		}
	}
	s3 := got[3]
	p.enqueue([]Message{msg("s/3", "c2", true)})
	next := p.take()
	p.done(s3, failed)
	out = nil
	for _, m := range append(next, p.take()...) {
		out = append(out, m.Topic+"="+string(m.Payload))
	}
	if want := "[s/1=a2 s/2=b2 s/3=c2]"; mustJSONList(out) != want {
		t.Fatalf("after failures %v, want %s", out, want)
	}
}

// TestPublisherKeepsAShareForStatuses: with more replies queued than a
// window holds, a window still carries statusShare statuses, so a stream
// of replies and assignments cannot hold the statuses back for good.
func TestPublisherKeepsAShareForStatuses(t *testing.T) {
	t.Parallel()
	p := newPublisher(nil, testenv.Logger(t, slog.LevelWarn), func(string) {})
	var ms []Message
	for i := range 2 * publishWindow {
		ms = append(ms, Message{Message: session.Message{Topic: fmt.Sprintf("r/%d", i)}})
		ms = append(ms, Message{Message: session.Message{Topic: fmt.Sprintf("s/%d", i), Retained: true}})
	}
	p.enqueue(ms)
	w := p.take()
	statuses := 0
	for _, m := range w {
		if m.Retained {
			statuses++
		}
	}
	if len(w) != publishWindow || statuses != statusShare || w[0].Topic != "r/0" || w[len(w)-statuses].Topic != "s/0" {
		t.Fatalf("window of %d with %d statuses (first %s), want %d with %d, replies first", len(w), statuses, w[0].Topic, publishWindow, statusShare)
	}
}

// TestPublisherStopsWithStatusesQueued: once its context ends the
// publisher returns, though statuses are still queued and its connection
// still up (their publishes fail with the context, and retry queues them
// again). A receiver never started holds the statuses' PUBACKs.
func TestPublisherStopsWithStatusesQueued(t *testing.T) {
	t.Parallel()
	hold, err := mqttd.NewReceiver("tether/v1/default/tasks/+/status")
	if err != nil {
		t.Fatal(err)
	}
	_, url := mqttdtest.Start(t, mqttd.Options{Region: "default", AllowAnonymous: true,
		SchedulerUsers: []string{"sched"}, Receiver: hold, Logger: testenv.Logger(t, slog.LevelWarn)})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	p := newPublisher(connect(t, ctx, &wg, url, "sched"), testenv.Logger(t, slog.LevelError), func(string) {})
	var ms []Message
	for i := range 2 * publishWindow {
		ms = append(ms, Message{Message: session.Message{Topic: fmt.Sprintf("tether/v1/default/tasks/t%d/status", i),
			QoS: 1, Retained: true, Payload: []byte("{}")}})
	}
	p.enqueue(ms)
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(pctx)
	}()
	time.Sleep(100 * time.Millisecond) // kept: a window sent, its PUBACKs held by a receiver never started; no event says the window is out
	stop()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the publisher kept going after its context ended")
	}
}

// TestPublisherIsNotHeldByAFullSession: a node that stops acknowledging
// its commands fills its persistent session, and the broker then refuses
// the scheduler's next message to it (no PUBACK: the publish fails only
// after OpTimeout). That message takes one slot of the window, not the
// publisher: a message to another node queued after it is delivered at
// once. Before the window slid, the next batch waited for the refused
// message's timeout (10 s).
func TestPublisherIsNotHeldByAFullSession(t *testing.T) {
	t.Parallel()
	const room = 16
	srv, url := mqttdtest.Start(t, mqttd.Options{Region: "default", AllowAnonymous: true,
		SchedulerUsers: []string{"sched"}, MaxInflight: room, Logger: testenv.Logger(t, slog.LevelError)})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	topics, _ := protocol.NewTopics("default")

	var held sync.WaitGroup
	held.Add(room)
	mqttdtest.Silent(t, ctx, url, "pi-bad", topics.NodeCommands("pi-bad"), held.Done)
	good := connect(t, ctx, &wg, url, "pi-good")
	got := make(chan time.Time, 1)
	if err := good.Subscribe(ctx, topics.NodeCommands("pi-good"), 1, func(session.Message) { got <- time.Now() }); err != nil {
		t.Fatal(err)
	}

	p := newPublisher(connect(t, ctx, &wg, url, "sched"), testenv.Logger(t, slog.LevelError), func(string) {})
	go p.run(ctx)
	cmd := func(node string, i int) Message {
		return Message{Message: session.Message{Topic: topics.NodeCommand(node, "cancel"), QoS: 1, Payload: fmt.Appendf(nil, `{"n":%d}`, i)}}
	}
	var fill []Message
	for i := range room + 1 { // the last one meets a full session
		fill = append(fill, cmd("pi-bad", i))
	}
	p.enqueue(fill)
	held.Wait()
	testenv.Eventually(t, 5*time.Second, "the broker to refuse the message to pi-bad's full session", func() bool { return srv.Stats().Refused >= 1 })
	sent := time.Now()
	p.enqueue([]Message{cmd("pi-good", 0)})
	select {
	case at := <-got:
		if d := at.Sub(sent); d > 2*time.Second {
			t.Fatalf("pi-good's command took %v, held behind pi-bad's refused one", d)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("pi-good's command was held behind pi-bad's refused one")
	}
}

func mustJSONList(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}

// TestServiceOverMQTT runs the Service over an embedded broker in the
// test process: requests arrive as payloads, replies, assignments and
// statuses leave through the broker, and a finished task moves to f/ once
// the broker acknowledged its final status.
func TestServiceOverMQTT(t *testing.T) {
	t.Parallel()
	_, url := mqttdtest.Start(t, mqttd.Options{Region: "default", AllowAnonymous: true,
		SchedulerUsers: []string{"sched"}, OperatorUsers: []string{"ops"}, Logger: testenv.Logger(t, slog.LevelWarn)})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	st, ld, _, err := openStore(filepath.Join(t.TempDir(), "tasks"), testProfile(), testenv.Logger(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sched := connect(t, ctx, &wg, url, "sched")
	topics, _ := protocol.NewTopics("default")
	svc, err := NewService(st, ld, sched, ServiceOptions{Topics: topics, Key: testKey, Placer: leastOutstanding{},
		Logger: testenv.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	svcCtx, stopSvc := context.WithCancel(ctx)
	svcDone := make(chan error, 1)
	go func() { svcDone <- svc.Run(svcCtx) }()
	defer func() {
		stopSvc()
		if err := <-svcDone; err != nil {
			t.Errorf("Service.Run: %v", err)
		}
	}()

	ops := connect(t, ctx, &wg, url, "ops")
	node := connect(t, ctx, &wg, url, "pi-a")
	var mu sync.Mutex
	var got []session.Message
	collect := func(m session.Message) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}
	for c, f := range map[*session.Session]string{ops: topics.Replies("ops"), node: topics.NodeCommands("pi-a")} {
		if err := c.Subscribe(ctx, f, 1, collect); err != nil {
			t.Fatal(err)
		}
	}
	if err := ops.Subscribe(ctx, topics.AllTaskStatus(), 1, collect); err != nil {
		t.Fatal(err)
	}
	find := func(what string, ok func(session.Message) bool) session.Message {
		t.Helper()
		var found session.Message
		testenv.Eventually(t, 5*time.Second, what, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range got {
				if ok(m) {
					found = m
					return true
				}
			}
			return false
		})
		return found
	}

	svc.UpdateNode(NodeState{ID: "pi-a", Online: true, Instance: "i", HasFacts: true, Tier: "edge", Cores: 4, MemTotal: 1 << 30})
	req := func(id, spec string) []byte {
		return []byte(`{"v":1,"request_id":"` + id + `","reply_to":"` + topics.Reply("ops", id) + `","spec":` + spec + `}`)
	}
	if err := svc.HandleSubmit(req("r1", `{"id":"j1","kind":"builtin","builtin":{"name":"sleep","units":1}}`)); err != nil {
		t.Fatal(err)
	}
	if err := svc.HandleSubmit(req("r2", `{"id":"j2","kind":"builtin","builtin":{"name":"sleep","units":0}}`)); err != nil {
		t.Fatalf("an invalid spec is answered, not dropped: %v", err)
	}
	for _, garbage := range [][]byte{[]byte("{"), req("r3", `{"kind":"nope"}`)[:20],
		[]byte(`{"v":1,"request_id":"r4","reply_to":"tether/v1/default/nodes/pi-a/cmd/task","spec":{}}`)} {
		if err := svc.HandleSubmit(garbage); err == nil {
			t.Fatalf("garbage %q accepted", garbage)
		}
	}
	r1 := find("reply r1", func(m session.Message) bool { return m.Topic == topics.Reply("ops", "r1") })
	if r, err := task.DecodeReply(r1.Payload); err != nil || !r.OK || r.State != task.StateAssigned {
		t.Fatalf("reply r1 %+v %v", r, err)
	}
	r2 := find("reply r2", func(m session.Message) bool { return m.Topic == topics.Reply("ops", "r2") })
	if r, err := task.DecodeReply(r2.Payload); err != nil || r.OK || r.Error == "" {
		t.Fatalf("reply r2 %+v %v", r, err)
	}
	asg := find("assignment", func(m session.Message) bool { return m.Topic == topics.NodeCommand("pi-a", protocol.CmdTask) })
	env, err := task.DecodeEnvelope(asg.Payload)
	if err != nil {
		t.Fatal(err)
	}
	a, err := task.Verify([]ed25519.PublicKey{testKey.Public().(ed25519.PublicKey)}, env, "pi-a", time.Now())
	if err != nil || a.Task != "j1" {
		t.Fatalf("assignment %+v %v", a, err)
	}
	svc.HandleEvent(task.Event{Header: protocol.Header{V: 1, Node: "pi-a", Instance: "i", Seq: 1, TS: time.Now()},
		Task: "j1", Attempt: 1, State: task.EventSucceeded, Result: &task.Result{Output: "ok"}})
	find("succeeded status", func(m session.Message) bool {
		s, err := task.DecodeStatus(m.Payload)
		return err == nil && s.Task == "j1" && s.State == task.StateSucceeded && !m.Retained // a live delivery
	})
	testenv.Eventually(t, 5*time.Second, "finished task moved to f/ after its status was acknowledged", func() bool {
		f, err := st.Finished("j1")
		if err != nil {
			t.Fatal(err)
		}
		return f != nil
	})
}

func connect(t *testing.T, ctx context.Context, wg *sync.WaitGroup, url, user string) *session.Session {
	t.Helper()
	s, err := session.New(session.Options{Brokers: []string{url}, ClientID: user, Username: user, CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("session %s: %v", user, err)
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.WaitConnected(wctx); err != nil {
		t.Fatalf("%s: %v", user, err)
	}
	return s
}
