package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// operator is an in-test operator client: it submits specs and follows
// every task's retained status.
type operator struct {
	t      *testing.T
	site   *site
	clean  bool
	sess   *session.Session
	stop   func() // ends sess
	topics protocol.Topics

	mu       sync.Mutex
	replies  map[string]chan task.Reply
	statuses map[string]task.Status
}

func newOperator(t *testing.T, s *site) *operator {
	t.Helper()
	return newOperatorOn(t, s, []string{s.url()}, true)
}

// newOperatorOn is newOperator on brokers (failing over in order), with a
// clean session or a persistent one: an operator with a persistent session
// gets the statuses published while it was away from the broker's queue
// for it, not only as the retained copies a NATS node that has just
// restarted may not have caught up on (docs/scaling.md).
func newOperatorOn(t *testing.T, s *site, brokers []string, clean bool) *operator {
	t.Helper()
	topics, _ := protocol.NewTopics("default")
	o := &operator{t: t, site: s, clean: clean, topics: topics, replies: map[string]chan task.Reply{}, statuses: map[string]task.Status{}}
	o.connect(brokers)
	t.Cleanup(func() { o.stop() })
	return o
}

// connect makes the operator's connection on brokers and its
// subscriptions.
func (o *operator) connect(brokers []string) {
	t := o.t
	t.Helper()
	sess, err := session.New(session.Options{Brokers: brokers, ClientID: "operator@e2e", Username: "operator",
		Password: o.site.password("operator"), CleanSession: o.clean, Logger: testenv.Logger(t, slog.LevelInfo)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sess.Run(ctx) }()
	o.stop = func() { cancel(); <-done }
	o.sess = sess
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := sess.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	// Subscriptions survive reconnects (the session resubscribes), so the
	// operator keeps following across a scheduler restart.
	if err := sess.Subscribe(wctx, o.topics.Replies("operator"), 1, o.onReply); err != nil {
		t.Fatal(err)
	}
	if err := sess.Subscribe(wctx, o.topics.AllTaskStatus(), 1, o.onStatus); err != nil {
		t.Fatal(err)
	}
}

// reconnect ends the operator's connection and makes a new one on brokers
// (the same client id, so a persistent session carries over): a
// requester's way out of a connection whose requests or replies go
// nowhere, as a NATS node's just after its restart can (docs/scaling.md).
func (o *operator) reconnect(brokers []string) {
	o.t.Helper()
	o.stop()
	o.connect(brokers)
}

func (o *operator) onReply(m session.Message) {
	r, err := task.DecodeReply(m.Payload)
	if err != nil {
		o.t.Errorf("reply on %s: %v", m.Topic, err)
		return
	}
	o.mu.Lock()
	ch := o.replies[r.RequestID]
	o.mu.Unlock()
	if ch != nil {
		select {
		case ch <- r:
		default:
		}
	}
}

func (o *operator) onStatus(m session.Message) {
	if len(m.Payload) == 0 {
		return
	}
	st, err := task.DecodeStatus(m.Payload)
	if err != nil {
		o.t.Errorf("status on %s: %v", m.Topic, err)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if prev, ok := o.statuses[st.Task]; !ok || !st.Updated.Before(prev.Updated) {
		o.statuses[st.Task] = st
	}
}

// submit sends spec and waits for the scheduler's reply.
func (o *operator) submit(spec task.Spec) task.Reply {
	o.t.Helper()
	r, id, ok := o.trySubmit(spec)
	if !ok {
		o.t.Fatalf("no reply to the submission of %s (request %s)", spec.ID, id)
	}
	return r
}

// trySubmit is submit that reports a missing reply (after 10 s) rather
// than failing, with the request's id, so the caller can say what became
// of it.
func (o *operator) trySubmit(spec task.Spec) (task.Reply, string, bool) {
	o.t.Helper()
	id := fmt.Sprintf("req-%d", rand.Uint64())
	ch := make(chan task.Reply, 1)
	o.mu.Lock()
	o.replies[id] = ch
	o.mu.Unlock()
	b, _ := json.Marshal(task.SubmitRequest{V: task.Version, RequestID: id, ReplyTo: o.topics.Reply("operator", id), Spec: spec})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.sess.Publish(ctx, session.Message{Topic: o.topics.TaskSubmit(), QoS: 1, Payload: b}); err != nil {
		o.t.Fatalf("submit %s: %v", spec.ID, err)
	}
	select {
	case r := <-ch:
		return r, id, true
	case <-ctx.Done():
		return task.Reply{}, id, false
	}
}

// lateReply waits up to within for the reply to request id that trySubmit
// gave up on.
func (o *operator) lateReply(id string, within time.Duration) (task.Reply, bool) {
	o.mu.Lock()
	ch := o.replies[id]
	o.mu.Unlock()
	select {
	case r := <-ch:
		return r, true
	case <-time.After(within):
		return task.Reply{}, false
	}
}

func (o *operator) snapshot() map[string]task.Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]task.Status, len(o.statuses))
	for k, v := range o.statuses {
		out[k] = v
	}
	return out
}

// waitTasks asks ok of the statuses until it holds, or fails after within.
func (o *operator) waitTasks(within time.Duration, what string, ok func(map[string]task.Status) bool) map[string]task.Status {
	o.t.Helper()
	var st map[string]task.Status
	if !testenv.Within(within, func() bool { st = o.snapshot(); return ok(st) }) {
		counts := map[string]int{}
		for _, s := range st {
			counts[s.State]++
		}
		o.t.Fatalf("%s: not within %v; task states %v", what, within, counts)
	}
	return st
}
