package serve

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/broker/mqttd/mqttdtest"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestBrokerOutageKeepsTheFleetAndItsWork cuts the scheduler off its
// broker for longer than a node's heartbeat, grace and the task engine's
// lost grace together. The node stays connected to the broker and finishes
// its task meanwhile. The scheduler must not declare the node lost (which
// would cancel the attempt and run the task again): the attempt's success,
// queued by the broker, is kept after the reconnect.
func TestBrokerOutageKeepsTheFleetAndItsWork(t *testing.T) {
	t.Parallel()
	creds := mqttdtest.Credentials(t, map[string]string{"tether-scheduler": "sched-pw", "ops": "ops-pw", "pi-a": "node-pw"})
	brk, brokerURL := mqttdtest.Start(t, mqttd.Options{CredentialsFile: creds, Region: "default",
		SchedulerUsers: []string{"tether-scheduler"}, OperatorUsers: []string{"ops"}})
	proxy := testenv.NewCutProxy(t, brk.Addr().String())

	s := newSite(t) // for its key and task directory; its own scheduler is stopped
	s.stop()
	cfg := config.Default()
	cfg.MQTTURL = []string{proxy.URL()}
	cfg.Password = "sched-pw"
	cfg.KeepAlive = 2 * time.Second
	cfg.OfflineGrace = 500 * time.Millisecond
	cfg.FleetInterval = 100 * time.Millisecond
	cfg.Tasks = s.cfg.Tasks
	cfg.Tasks.NodeLostGrace = time.Second
	s.cfg = cfg
	s.start()

	topics, _ := protocol.NewTopics("default")
	node := dial(t, brokerURL, "pi-a", "pi-a", "node-pw")
	cmds := listen(t, node, topics.NodeCommands("pi-a"))
	var seqMu sync.Mutex
	var seq uint64
	next := func() protocol.Header {
		seqMu.Lock()
		defer seqMu.Unlock()
		seq++
		// From 1: like an agent's outbox, the node says what it made may
		// still be on its way (the broker redelivers a persistent
		// session's queue in its own order).
		return protocol.Header{V: 1, Node: "pi-a", Instance: "i1", Store: "st1", Seq: seq, From: 1, TS: time.Now()}
	}
	publishJSON(t, node, topics.NodeStatus("pi-a"), protocol.NodeStatus{Header: protocol.Header{V: 1, Node: "pi-a", Instance: "i1", Store: "st1", TS: time.Now()},
		State: protocol.StateOnline, Conn: 1, HeartbeatS: 0.5,
		Facts: &protocol.Facts{Hostname: "h", OS: "linux", Arch: "arm64", Cores: 4, MemTotal: 4 << 30, AgentVersion: "t", Tier: "edge"}})
	hbCtx, stopHB := context.WithCancel(context.Background())
	hbDone := make(chan struct{})
	go func() { // heartbeats, through the outage: the node's link is fine
		defer close(hbDone)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-tick.C:
				b, _ := json.Marshal(protocol.Metrics{Header: next(), CPU: protocol.CPU{Total: 5}})
				_ = node.Publish(hbCtx, session.Message{Topic: topics.NodeMetrics("pi-a"), QoS: 1, Payload: b})
			}
		}
	}()
	defer func() { stopHB(); <-hbDone }()

	ops := dial(t, brokerURL, "ops@t", "ops", "ops-pw")
	statuses := listen(t, ops, topics.AllTaskStatus())
	spec := task.Spec{ID: "job-1", Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinCPU, Units: 10}}
	publishJSON(t, ops, topics.TaskSubmit(), task.SubmitRequest{V: 1, RequestID: "r1", ReplyTo: topics.Reply("ops", "r1"), Spec: spec})
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
	publishJSON(t, node, topics.NodeTasks("pi-a"), task.Event{Header: next(), Task: "job-1", Attempt: a.Attempt, State: task.EventRunning})
	last := func() task.Status {
		var st task.Status
		for _, m := range statuses.all() {
			if m.Topic == topics.TaskStatus("job-1") {
				if x, err := task.DecodeStatus(m.Payload); err == nil {
					st = x
				}
			}
		}
		return st
	}
	testenv.Eventually(t, 5*time.Second, "job-1 running", func() bool { return last().State == task.StateRunning })

	proxy.Cut()
	// The node finishes while the scheduler is away; the broker queues
	// the event in the scheduler's persistent session.
	publishJSON(t, node, topics.NodeTasks("pi-a"), task.Event{Header: next(), Task: "job-1", Attempt: a.Attempt, State: task.EventSucceeded,
		Result: &task.Result{Output: "done during the outage"}})
	// The outage must outlast heartbeat + grace + lost grace (0.5+0.5+1 s)
	// on the scheduler's real clock, with room for its once-a-second
	// sweeps and the engine's ticks.
	time.Sleep(4 * time.Second) // kept: the outage's length is the condition under test
	proxy.Heal()

	// The scheduler comes back after its reconnect backoff, which grew
	// during the outage (up to several seconds): wait longer than that.
	if !testenv.Within(30*time.Second, func() bool { return last().State == task.StateSucceeded }) {
		t.Fatalf("job-1 not succeeded 30 s after the outage: %+v", last())
	}
	st := last()
	if len(st.Attempts) != 1 || st.Attempt != a.Attempt || st.Result == nil || st.Result.Output != "done during the outage" {
		t.Fatalf("the work done during the outage was not kept: %+v", st)
	}
	for _, m := range cmds.all() {
		if env, err := task.DecodeEnvelope(m.Payload); err == nil {
			if x, err := task.Verify([]ed25519.PublicKey{s.key.Public().(ed25519.PublicKey)}, env, "pi-a", time.Now()); err == nil && x.Op == task.AssignCancel {
				t.Fatalf("the attempt was cancelled after the outage: %+v", x)
			}
		}
	}
}
