package serve

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

// muteHook makes a broker acknowledge the scheduler's messages and deliver
// none of them while on: a connection alive to the keepalive that carries
// nothing, as a cluster node whose message streams lost their leader does.
type muteHook struct {
	mochi.HookBase
	on atomic.Bool
}

func (h *muteHook) ID() string { return "mute-scheduler" }

func (h *muteHook) Provides(b byte) bool { return b == mochi.OnPublish }

// OnPublish marks the scheduler's messages ignored: mochi acknowledges an
// ignored message and neither delivers nor retains it.
func (h *muteHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if h.on.Load() && strings.HasPrefix(cl.ID, "tether-scheduler") {
		return pk, packets.CodeSuccessIgnore
	}
	return pk, nil
}

// startOpenBroker runs a mochi broker that lets everyone in, with hooks.
func startOpenBroker(t *testing.T, hooks ...mochi.Hook) (*mochi.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	for _, h := range append([]mochi.Hook{new(auth.AllowHook)}, hooks...) {
		if err := srv.AddHook(h, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.AddListener(listeners.NewNet("t", ln)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, "tcp://" + ln.Addr().String()
}

// schedulerOn reports whether the scheduler has a live connection to srv.
func schedulerOn(srv *mochi.Server) bool {
	for id, cl := range srv.Clients.GetAll() {
		if strings.HasPrefix(id, "tether-scheduler") && !cl.Closed() {
			return true
		}
	}
	return false
}

// TestSelfProbeLeavesABrokerThatDoesNotDeliver gives the scheduler two
// brokers and makes the first one swallow everything the scheduler
// publishes while acknowledging it. The scheduler's probes to itself stop
// coming back, and it connects to the second broker, where what it
// publishes reaches a monitor again. On a healthy broker the probe does not
// move it.
func TestSelfProbeLeavesABrokerThatDoesNotDeliver(t *testing.T) {
	t.Parallel()
	mute := new(muteHook)
	a, urlA := startOpenBroker(t, mute)
	b, urlB := startOpenBroker(t)

	s := newSite(t) // for its key and task directory; its own scheduler is stopped
	s.stop()
	cfg := config.Default()
	cfg.MQTTURL = []string{urlA, urlB}
	cfg.Password = "sched-pw"
	cfg.SelfProbe = time.Second
	cfg.FleetInterval = 100 * time.Millisecond
	cfg.Tasks = s.cfg.Tasks
	s.cfg = cfg
	s.start()
	testenv.Eventually(t, 5*time.Second, "the scheduler on broker A", func() bool { return schedulerOn(a) })

	time.Sleep(3 * time.Second) // three probes through a healthy broker
	if !schedulerOn(a) || schedulerOn(b) {
		t.Fatal("the scheduler left a broker that delivers its messages")
	}

	mute.on.Store(true)
	muted := time.Now()
	testenv.Eventually(t, 15*time.Second, "the scheduler on broker B", func() bool { return schedulerOn(b) && !schedulerOn(a) })
	t.Logf("on broker B %v after broker A stopped delivering its messages", time.Since(muted).Round(10*time.Millisecond))

	// What it publishes reaches a monitor on B: the fleet summary,
	// published again on every connection.
	topics, _ := protocol.NewTopics("default")
	mon := dial(t, urlB, "monitor-1", "monitor", "x")
	got := make(chan struct{}, 1)
	if err := mon.Subscribe(context.Background(), topics.FleetSummary(), 1, func(session.Message) {
		select {
		case got <- struct{}{}:
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing the scheduler publishes reaches a monitor on broker B")
	}
}
