package serve

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/mqttd/mqttdtest"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

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
	var mute atomic.Bool
	a, urlA := mqttdtest.StartOpen(t, func(id string) bool { return mute.Load() && strings.HasPrefix(id, "tether-scheduler") })
	b, urlB := mqttdtest.StartOpen(t, nil)

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

	time.Sleep(3 * time.Second) // kept: three probes through a healthy broker; what is proven is that the scheduler does not move
	if !schedulerOn(a) || schedulerOn(b) {
		t.Fatal("the scheduler left a broker that delivers its messages")
	}

	mute.Store(true)
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

// TestIntakeBacklogged: a worker's queue three quarters full is a backlog
// (a late self-probe then does not count); less is not.
func TestIntakeBacklogged(t *testing.T) {
	t.Parallel()
	in := newIntake(2, 8)
	for range 5 {
		in.shards[1] <- job{}
	}
	if in.backlogged() {
		t.Fatal("5 of 8 queued: backlogged")
	}
	in.shards[1] <- job{}
	if !in.backlogged() {
		t.Fatal("6 of 8 queued: not backlogged")
	}
}
