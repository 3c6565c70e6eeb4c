package loadgen

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/mqttd/mqttdtest"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestSeveralBrokersUntilClosed: of two listeners the first refuses
// connections (a region's node that is down): the nodes started on it,
// the monitor and the retained checker move to the second; every node
// comes online there, the steady state lasts until Until is closed (not
// the hour Steady says), and the graceful stop loses nothing.
func TestSeveralBrokersUntilClosed(t *testing.T) {
	t.Parallel()
	srv, url := mqttdtest.StartOpen(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	until := make(chan struct{})
	nodes := []Credential{{"lg-00000", "pw"}, {"lg-00001", "pw"}, {"lg-00002", "pw"}}
	g, err := New(Options{Broker: down, Brokers: []string{strings.TrimPrefix(url, "tcp://")}, Nodes: nodes,
		Monitor: Credential{"mon", "pw"}, Report: 100 * time.Millisecond, ChangeRate: 1, ReconnectMin: 50 * time.Millisecond,
		Steady: time.Hour, Settle: 2 * time.Second, Until: until, Logger: testenv.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	type ran struct {
		res Result
		err error
	}
	done := make(chan ran, 1)
	go func() {
		res, err := g.Run(context.Background())
		done <- ran{res, err}
	}()
	testenv.Eventually(t, 20*time.Second, "every node online", func() bool { return g.Online() == len(nodes) })
	for _, n := range nodes {
		if _, ok := srv.Clients.Get(n.User); !ok {
			t.Errorf("%s is not connected to the listener that is up", n.User)
		}
	}
	select {
	case r := <-done:
		t.Fatalf("the run ended before Until was closed: %+v %v", r.res, r.err)
	default:
	}
	close(until)
	var r ran
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the run did not end within a minute of Until closed")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	res := r.res
	if res.ConnectFailures < 2 {
		t.Errorf("%d failed connects; want at least the first one of lg-00000 and lg-00002, on the listener that is down", res.ConnectFailures)
	}
	if res.Made == 0 || res.Acked == 0 || res.LostMonitor != 0 {
		t.Errorf("made %d, acknowledged %d, lost to the monitor %d; want some made and acknowledged, none lost", res.Made, res.Acked, res.LostMonitor)
	}
	if res.Retained != len(nodes) {
		t.Errorf("%d retained statuses for the checker, want %d", res.Retained, len(nodes))
	}
	// No scheduler here: no rows, so Result counts no goodbyes; the nodes
	// know theirs were acknowledged.
	for _, n := range g.nodes {
		if !n.goodbyeDone.Load() {
			t.Errorf("%s: goodbye not acknowledged", n.id)
		}
	}
}

// TestMonitorCountsOnlyItsNodes: the region's other nodes (real agents
// beside the generator) have rows and reports too; the monitor neither
// counts their rows online nor accounts their seqs.
func TestMonitorCountsOnlyItsNodes(t *testing.T) {
	g, err := New(Options{Broker: "127.0.0.1:1", Nodes: []Credential{{"lg-00000", "pw"}}, Monitor: Credential{"mon", "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	m := &monitor{g: g, seen: map[string]*seenSeqs{}, status: map[string]protocol.NodeStatus{}, rows: map[string]protocol.FleetNode{}}
	now := time.Now()
	for _, id := range []string{"lg-00000", "pi-agent"} {
		row, err := json.Marshal(protocol.FleetRow{V: protocol.Version, TS: now, FleetNode: protocol.FleetNode{Node: id, Online: true, LastSeen: now, Seq: 1}})
		if err != nil {
			t.Fatal(err)
		}
		m.observe(g.topics.FleetRow(id), row, now)
		m.observe(g.topics.NodeMetrics(id), []byte(`{"v":1,"node":"`+id+`","seq":1}`), now)
	}
	if got := m.fleetOnline(); got != 1 {
		t.Errorf("%d rows online, want 1 (the generator's node's)", got)
	}
	if _, ok := m.row("pi-agent"); ok {
		t.Error("the monitor keeps another node's row")
	}
	if m.seen["pi-agent"] != nil || m.seen["lg-00000"] == nil || !m.seen["lg-00000"].has(1) {
		t.Errorf("seqs recorded: %v; want lg-00000's seq 1 only", m.seen)
	}
}
