package serve

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// site is a scheduler with its embedded broker in the test process, with
// a signing key, and restartable over the same task store.
type site struct {
	t      testing.TB
	dir    string
	cfg    config.Config
	key    ed25519.PrivateKey
	url    string
	cancel context.CancelFunc
	done   chan error
}

func newSite(t *testing.T) *site { return newSiteWith(t, nil) }

// siteKey is every site's signing key.
var siteKey = ed25519.NewKeyFromSeed([]byte("tether serve test key seed 32 b!"))

// newSiteWith lets users be added to the credentials file.
func newSiteWith(t testing.TB, users func(map[string]string)) *site { return newSiteCfg(t, users, nil) }

// newSiteCfg lets the configuration be changed, too, before the start.
func newSiteCfg(t testing.TB, users func(map[string]string), mod func(*config.Config)) *site {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	all := map[string]string{"tether-scheduler": "sched-pw", "ops": "ops-pw", "monitor": "mon-pw", "pi-a": "node-pw"}
	if users != nil {
		users(all)
	}
	for user, pw := range all {
		if err := mqttd.AddUser(creds, user, pw); err != nil {
			t.Fatal(err)
		}
	}
	key := siteKey
	pem, err := taskengine.EncodeSigningKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "scheduler.key")
	if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Embedded.Listen = "127.0.0.1:0"
	cfg.Embedded.CredentialsFile = creds
	cfg.Embedded.OperatorUsers = []string{"ops"}
	cfg.Password = "sched-pw"
	cfg.FleetInterval = 100 * time.Millisecond
	cfg.Tasks.Dir = filepath.Join(dir, "tasks")
	cfg.Tasks.SigningKeyFile = keyFile
	if mod != nil {
		mod(&cfg)
	}
	s := &site{t: t, dir: dir, cfg: cfg, key: key}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *site) start() {
	s.t.Helper()
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1) // this Run's: a late one must not answer for the next
	s.cancel, s.done = cancel, done
	go func() {
		done <- Run(ctx, s.cfg, Options{Logger: slog.New(slog.DiscardHandler), Version: "test", OnReady: func(u string) { ready <- u }})
	}()
	select {
	case s.url = <-ready:
	case err := <-s.done:
		s.t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		s.t.Fatal("scheduler not ready")
	}
}

func (s *site) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		// Where it hangs, then whether it ends at all.
		var stacks strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 2)
		s.t.Errorf("Run did not return within 10 s; goroutines:\n%s", stacks.String())
		select {
		case <-s.done:
			s.t.Log("Run returned within 30 s more")
		case <-time.After(30 * time.Second):
			s.t.Log("Run did not return within 30 s more")
		}
	}
	s.cancel = nil
}

// inbox collects what a session receives on a filter.
type inbox struct {
	mu   sync.Mutex
	msgs []session.Message
}

func listen(t *testing.T, sess *session.Session, filter string) *inbox {
	t.Helper()
	in := &inbox{}
	if err := sess.Subscribe(context.Background(), filter, 1, func(m session.Message) {
		in.mu.Lock()
		in.msgs = append(in.msgs, m)
		in.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return in
}

func (in *inbox) all() []session.Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]session.Message(nil), in.msgs...)
}

func publishJSON(t *testing.T, sess *session.Session, topic string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Publish(context.Background(), session.Message{Topic: topic, QoS: 1, Payload: b}); err != nil {
		t.Fatal(err)
	}
}

// TestServeTasks runs a task end to end through serve: an operator
// submits it, the node (a fake agent speaking the protocol) receives the
// signed assignment, reports through its task topic — with a duplicate
// seq, as its outbox may deliver — and the retained status ends
// succeeded with the one result. Garbage on the task topics is counted,
// a reply topic outside the region is refused, an invalid spec answered.
func TestServeTasks(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	topics, _ := protocol.NewTopics("default")
	node := dial(t, s.url, "pi-a", "pi-a", "node-pw")
	cmds := listen(t, node, topics.NodeCommands("pi-a"))
	birth := protocol.NodeStatus{Header: protocol.Header{V: 1, Node: "pi-a", Instance: "i1", TS: time.Now()},
		State: protocol.StateOnline, Conn: 1, HeartbeatS: 60,
		Facts: &protocol.Facts{Hostname: "h", OS: "linux", Arch: "arm64", Cores: 4, MemTotal: 4 << 30, AgentVersion: "t", Tier: "edge"}}
	b, _ := json.Marshal(birth)
	if err := node.Publish(context.Background(), session.Message{Topic: topics.NodeStatus("pi-a"), QoS: 1, Retained: true, Payload: b}); err != nil {
		t.Fatal(err)
	}

	ops := dial(t, s.url, "ops@t", "ops", "ops-pw")
	replies := listen(t, ops, topics.Replies("ops"))
	statuses := listen(t, ops, topics.AllTaskStatus())
	submit := func(req string, spec task.Spec) task.Reply {
		t.Helper()
		publishJSON(t, ops, topics.TaskSubmit(), task.SubmitRequest{V: 1, RequestID: req, ReplyTo: topics.Reply("ops", req), Spec: spec})
		var r task.Reply
		testenv.Eventually(t, 5*time.Second, "reply to "+req, func() bool {
			for _, m := range replies.all() {
				if m.Topic == topics.Reply("ops", req) {
					var err error
					r, err = task.DecodeReply(m.Payload)
					return err == nil
				}
			}
			return false
		})
		return r
	}
	spec := task.Spec{ID: "job-1", Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinCPU, Units: 10}}
	var r task.Reply
	testenv.Eventually(t, 5*time.Second, "job placed on pi-a", func() bool {
		r = submit(fmt.Sprintf("r%d", time.Now().UnixNano()), spec)
		return r.OK && r.State == task.StateAssigned
	})

	var a task.Assignment
	testenv.Eventually(t, 5*time.Second, "assignment at the node", func() bool {
		for _, m := range cmds.all() {
			env, err := task.DecodeEnvelope(m.Payload)
			if err != nil {
				continue
			}
			if a, err = task.Verify([]ed25519.PublicKey{s.key.Public().(ed25519.PublicKey)}, env, "pi-a", time.Now()); err == nil {
				return a.Op == task.AssignRun && a.Task == "job-1"
			}
		}
		return false
	})
	ev := func(seq uint64, state string, res *task.Result) task.Event {
		return task.Event{Header: protocol.Header{V: 1, Node: "pi-a", Instance: "i1", Store: "st1", Seq: seq, TS: time.Now()},
			Task: "job-1", Attempt: a.Attempt, State: state, Result: res}
	}
	publishJSON(t, node, topics.NodeTasks("pi-a"), ev(1, task.EventRunning, nil))
	publishJSON(t, node, topics.NodeTasks("pi-a"), ev(2, task.EventSucceeded, &task.Result{Output: "right"}))
	// The same seq again, with other content: dropped by its seq.
	publishJSON(t, node, topics.NodeTasks("pi-a"), ev(2, task.EventSucceeded, &task.Result{Output: "wrong"}))

	var st task.Status
	testenv.Eventually(t, 5*time.Second, "succeeded status", func() bool {
		for _, m := range statuses.all() {
			if m.Topic == topics.TaskStatus("job-1") {
				if x, err := task.DecodeStatus(m.Payload); err == nil {
					st = x
				}
			}
		}
		return st.State == task.StateSucceeded
	})
	if st.Result == nil || st.Result.Output != "right" || len(st.Attempts) != 1 || st.Node != "pi-a" {
		t.Fatalf("final status %+v", st)
	}

	// Idempotent resubmission, an invalid spec, and requests nobody can
	// be answered for.
	if r := submit("again", spec); !r.OK || !r.Existing || r.State != task.StateSucceeded {
		t.Fatalf("resubmission: %+v", r)
	}
	bad := task.Spec{ID: "bad", Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinCPU}}
	if r := submit("bad", bad); r.OK || r.Error == "" {
		t.Fatalf("invalid spec: %+v", r)
	}
	monitor := dial(t, s.url, "monitor@t", "monitor", "mon-pw")
	var mu sync.Mutex
	var rejected uint64
	if err := monitor.Subscribe(context.Background(), topics.FleetSummary(), 1, func(m session.Message) {
		if sum, err := protocol.DecodeFleetSummary(m.Payload); err == nil {
			mu.Lock()
			rejected = sum.Rejected
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"not json", `{"v":1,"request_id":"x","reply_to":"tether/v1/other/replies/ops/x","spec":{"kind":"builtin","builtin":{"name":"cpu","units":1}}}`} {
		if err := ops.Publish(context.Background(), session.Message{Topic: topics.TaskSubmit(), QoS: 1, Payload: []byte(raw)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := node.Publish(context.Background(), session.Message{Topic: topics.NodeTasks("pi-a"), QoS: 1, Payload: []byte(`{"v":1}`)}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "garbage counted", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return rejected >= 3
	})
	for _, m := range replies.all() {
		if m.Topic == topics.Reply("ops", "x") {
			t.Fatal("replied to a request whose reply topic is in another region")
		}
	}
}

// TestServeTasksRestart: a task assigned when the scheduler stops is
// re-sent after the restart, and its status re-published.
func TestServeTasksRestart(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	topics, _ := protocol.NewTopics("default")
	node := dial(t, s.url, "pi-a", "pi-a", "node-pw")
	birth := protocol.NodeStatus{Header: protocol.Header{V: 1, Node: "pi-a", Instance: "i1", TS: time.Now()},
		State: protocol.StateOnline, Conn: 1, HeartbeatS: 60,
		Facts: &protocol.Facts{Hostname: "h", OS: "linux", Arch: "arm64", Cores: 4, MemTotal: 4 << 30, AgentVersion: "t", Tier: "edge"}}
	b, _ := json.Marshal(birth)
	if err := node.Publish(context.Background(), session.Message{Topic: topics.NodeStatus("pi-a"), QoS: 1, Retained: true, Payload: b}); err != nil {
		t.Fatal(err)
	}
	ops := dial(t, s.url, "ops@t", "ops", "ops-pw")
	replies := listen(t, ops, topics.Replies("ops"))
	waitPlaceable(t, ops, topics, 5*time.Second, "pi-a")
	spec := task.Spec{ID: "job-2", Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 10}}
	publishJSON(t, ops, topics.TaskSubmit(), task.SubmitRequest{V: 1, RequestID: "r1", ReplyTo: topics.Reply("ops", "r1"), Spec: spec})
	testenv.Eventually(t, 5*time.Second, "job-2 assigned", func() bool {
		for _, m := range replies.all() {
			if r, err := task.DecodeReply(m.Payload); err == nil && r.State == task.StateAssigned {
				return true
			}
		}
		return false
	})
	s.stop()
	// The embedded broker went with the scheduler, and its retained
	// messages too: whatever the restarted scheduler publishes comes from
	// its store. The assignment it re-sends at start finds no subscriber;
	// the one after the ack timeout reaches the node.
	s.cfg.Tasks.AckTimeout = time.Second
	s.start()
	node = dial(t, s.url, "pi-a", "pi-a", "node-pw")
	cmds := listen(t, node, topics.NodeCommands("pi-a"))
	mon := dial(t, s.url, "ops@t2", "ops", "ops-pw")
	statuses := listen(t, mon, topics.AllTaskStatus())
	testenv.Eventually(t, 5*time.Second, "status re-published from the store", func() bool {
		for _, m := range statuses.all() {
			if st, err := task.DecodeStatus(m.Payload); err == nil && st.Task == "job-2" && st.State == task.StateAssigned {
				return true
			}
		}
		return false
	})
	testenv.Eventually(t, 5*time.Second, "assignment re-sent", func() bool {
		for _, m := range cmds.all() {
			env, err := task.DecodeEnvelope(m.Payload)
			if err != nil {
				continue
			}
			a, err := task.Verify([]ed25519.PublicKey{s.key.Public().(ed25519.PublicKey)}, env, "pi-a", time.Now())
			if err == nil && a.Op == task.AssignRun && a.Task == "job-2" && a.Attempt == 1 {
				return true
			}
		}
		return false
	})
}

// TestServeRefusesUnusableKey: a configured signing key that cannot be
// used stops serve with the reason, before anything is served.
func TestServeRefusesUnusableKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := mqttd.AddUser(creds, "tether-scheduler", "pw"); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{filepath.Join(dir, "missing.key"): "no such file", bad: `want "PRIVATE KEY"`} {
		cfg := config.Default()
		cfg.Embedded.Listen = "127.0.0.1:0"
		cfg.Embedded.CredentialsFile = creds
		cfg.Password = "pw"
		cfg.Tasks.Dir = filepath.Join(dir, "tasks")
		cfg.Tasks.SigningKeyFile = file
		err := Run(context.Background(), cfg, Options{Logger: slog.New(slog.DiscardHandler)})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("key %s: Run = %v, want an error mentioning %q", file, err, want)
		}
	}
}
