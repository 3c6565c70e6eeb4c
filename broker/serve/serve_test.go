package serve

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestServeInProcess runs the scheduler with its embedded broker in the test
// process (so -race sees it), a node and a monitor: the node's birth and
// metrics reach its retained row of the fleet view, and Run returns cleanly when its
// context ends. (The goodbye's retained status outlives only an external
// broker: broker/e2e checks it against Mosquitto.)
func TestServeInProcess(t *testing.T) {
	t.Parallel()
	url, stop := startServe(t, map[string]string{"monitor": "mon-pw", "pi-a": "node-pw"}, nil)

	topics, _ := protocol.NewTopics("default")
	node := dial(t, url, "pi-a", "pi-a", "node-pw")
	birth := `{"v":1,"node":"pi-a","instance":"i1","seq":0,"conn":1,"ts":"2026-11-27T09:30:00Z","state":"online","heartbeat_s":60,` +
		`"facts":{"hostname":"h","os":"linux","arch":"armv7","cores":4,"mem_total":1,"agent_version":"t","tier":"edge"}}`
	metrics := `{"v":1,"node":"pi-a","instance":"i1","seq":1,"ts":"2026-11-27T09:30:01Z","cpu":{"total":42},"mem":{"total":10,"available":5,"used":5,"percent":50},"uptime_s":1}`
	for _, m := range []session.Message{
		{Topic: topics.NodeStatus("pi-a"), QoS: 1, Retained: true, Payload: []byte(birth)},
		{Topic: topics.NodeMetrics("pi-a"), QoS: 1, Payload: []byte(metrics)},
	} {
		if err := node.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}

	monitor := dial(t, url, "monitor@t", "monitor", "mon-pw")
	var mu sync.Mutex
	var row protocol.FleetRow
	var sched protocol.SchedulerStatus
	if err := monitor.Subscribe(context.Background(), topics.AllFleetRows(), 1, func(m session.Message) {
		if r, err := protocol.DecodeFleetRow(m.Payload); err == nil && m.Topic == topics.FleetRow(r.Node) {
			mu.Lock()
			row = r
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := monitor.Subscribe(context.Background(), topics.SchedulerStatus(), 1, func(m session.Message) {
		if st, err := protocol.DecodeSchedulerStatus(m.Payload); err == nil {
			mu.Lock()
			sched = st
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "pi-a's row with its metrics", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return row.Node == "pi-a" && row.Online && row.Arch == "armv7" && row.CPU != nil && *row.CPU == 42
	})
	testenv.Eventually(t, 5*time.Second, "scheduler online", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return sched.State == protocol.StateOnline && sched.Version == "test"
	})

	stop()
}

func dial(t testing.TB, url, clientID, user, pw string) *session.Session {
	t.Helper()
	s, err := session.New(session.Options{Brokers: []string{url}, ClientID: clientID, Username: user, Password: pw, CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if err := s.WaitConnected(wctx); err != nil {
		t.Fatalf("%s: %v", user, err)
	}
	return s
}

func TestLoopbackFor(t *testing.T) {
	t.Parallel()
	cases := map[string]string{"0.0.0.0:8883": "localhost:8883", "[::]:1883": "localhost:1883", "127.0.0.1:1": "127.0.0.1:1"}
	for in, want := range cases {
		addr, err := netResolve(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := loopbackFor(addr); got != want {
			t.Errorf("loopbackFor(%s) = %s, want %s", in, got, want)
		}
	}
}
