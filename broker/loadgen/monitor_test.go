package loadgen

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/mqttd/mqttdtest"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestMonitorConnectsAgain: the stream checker's connection is cut by the
// broker (as a broker under a connect storm may); it connects again to its
// persistent session and receives what was published meanwhile, so "lost"
// still means dropped by the broker, not by a checker that went away.
func TestMonitorConnectsAgain(t *testing.T) {
	srv, url := mqttdtest.StartOpen(t, nil)
	g, err := New(Options{Broker: strings.TrimPrefix(url, "tcp://"), Nodes: []Credential{{"lg-00000", "pw"}},
		Monitor: Credential{"mon", "pw"}, Logger: testenv.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := startMonitor(ctx, g, "mon", "pw")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.run(ctx) }()
	defer func() { m.close(); <-done }()
	const topic = "tether/v1/default/test/x"
	size := int64(len(topic) + 1 + 4) // as observe counts a message
	pub, err := dialWire(g.opts.Broker, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.close()
	if _, err := pub.connect("pub", "pub", "pw", true, time.Minute, nil, time.Second); err != nil {
		t.Fatal(err)
	}
	var id uint16
	publish := func(n int) {
		for range n {
			id++
			if err := pub.write(publishPacket(topic, []byte("x"), false, id)); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := func() int64 { return m.otherBytes.Load() }
	// The monitor does not wait for its SUBACK: publish once the broker
	// holds the subscription, or the messages go to nobody.
	testenv.Eventually(t, 10*time.Second, "the monitor's subscription on the broker", func() bool {
		_, ok := srv.Topics.Subscribers(topic).Subscriptions[m.id]
		return ok
	})
	publish(3)
	testenv.Eventually(t, 10*time.Second, "the first three messages", func() bool { return got() >= 3*size })
	before := got()
	cl, ok := srv.Clients.Get(m.id)
	if !ok {
		t.Fatalf("no client %s on the broker", m.id)
	}
	cl.Stop(errors.New("cut by the test"))
	testenv.Eventually(t, 5*time.Second, "the broker to see the monitor gone", func() bool { return cl.Closed() })
	publish(5) // queued for the persistent session while it is away
	testenv.Eventually(t, 10*time.Second, "the monitor back with what was queued", func() bool {
		return m.reconnects.Load() == 1 && got()-before >= 5*size
	})
}
