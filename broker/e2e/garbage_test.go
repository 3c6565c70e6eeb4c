package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestGarbageIsCountedNotFatal sends garbage, oversized and wrong-version
// payloads to every topic the scheduler and the agent subscribe to. Both
// must stay up: the scheduler counts the rejects in its fleet summary and
// keeps the node's last good state; the agent keeps reporting.
func TestGarbageIsCountedNotFatal(t *testing.T) {
	s := newSite(t)
	sched := s.startScheduler()
	agent := s.startAgent("pi-a")
	s.waitFleet(5*time.Second, "agent online", func(n map[string]protocol.FleetNode) bool { return n["pi-a"].Online })

	// An intruder with its own node credentials can only write its own
	// topics: the garbage goes where the scheduler listens.
	s.addUser("pi-x")
	payloads := [][]byte{
		[]byte("garbage \x00\xff"),
		[]byte(`{"v":2,"node":"pi-x","instance":"i","seq":1,"ts":"2026-11-27T09:30:00Z","state":"offline"}`),
		[]byte(`{"v":1,"node":"pi-a","instance":"i","seq":1,"ts":"2026-11-27T09:30:00Z","state":"offline"}`), // claims another node
		[]byte(`{"v":1,"node":"pi-x","cpu":{"total":"hot"}}`),
		[]byte(`{"v":1,"pad":"` + strings.Repeat("x", protocol.MaxMessage) + `"}`),
		{},
	}
	topics, _ := protocol.NewTopics("default")
	intruder := connect(t, s, "pi-x", "pi-x")

	var mu sync.Mutex
	var sum protocol.FleetSummary
	monitor := connect(t, s, "monitor@e2e", "monitor")
	if err := monitor.Subscribe(context.Background(), topics.FleetSummary(), 1, func(m session.Message) {
		if v, err := protocol.DecodeFleetSummary(m.Payload); err == nil {
			mu.Lock()
			sum = v
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	for _, p := range payloads {
		for _, topic := range []string{topics.NodeStatus("pi-x"), topics.NodeMetrics("pi-x")} {
			if err := intruder.Publish(context.Background(), session.Message{Topic: topic, QoS: 1, Payload: p}); err != nil {
				t.Fatalf("publish to %s: %v", topic, err)
			}
		}
	}
	// The scheduler's identity can write any node's command topics: garbage
	// commands reach the agent.
	sched2 := connect(t, s, "tether-scheduler@e2e", "tether-scheduler")
	for _, p := range payloads {
		for _, cmd := range []string{protocol.CmdRebirth, "bogus", "x"} {
			if err := sched2.Publish(context.Background(), session.Message{Topic: topics.NodeCommand("pi-a", cmd), QoS: 1, Payload: p}); err != nil {
				t.Fatalf("publish command: %v", err)
			}
		}
	}

	want := uint64(2 * len(payloads))
	var got uint64
	testenv.Within(5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		got = sum.Rejected
		return got >= want
	})
	if got != want {
		t.Fatalf("scheduler counted %d rejected messages, want %d", got, want)
	}
	s.waitFleet(5*time.Second, "agent still online and reporting", func(n map[string]protocol.FleetNode) bool {
		return n["pi-a"].Online && n["pi-a"].CPU != nil
	})
	for _, p := range []*proc{sched, agent} {
		select {
		case <-p.done:
			t.Fatalf("%s exited: %v", p.name, p.err)
		default:
		}
	}
}

// connect opens a session as user on the site's broker.
func connect(t *testing.T, s *site, clientID, user string) *session.Session {
	t.Helper()
	sess, err := session.New(session.Options{Brokers: []string{s.url()}, ClientID: clientID, Username: user,
		Password: s.password(user), CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sess.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if err := sess.WaitConnected(wctx); err != nil {
		t.Fatalf("%s cannot connect: %v", user, err)
	}
	return sess
}
