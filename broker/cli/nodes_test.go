package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/broker/mqttd/mqttdtest"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// nodesSite is an embedded broker holding a fleet view of n nodes, as a
// scheduler leaves it: the summary and one retained row per node.
func nodesSite(tb testing.TB, n int) (url, pwFile string) {
	creds := mqttdtest.Credentials(tb, map[string]string{"tether-scheduler": "sched-pw", "monitor": "mon-pw"})
	_, url = mqttdtest.Start(tb, mqttd.Options{CredentialsFile: creds, Region: "default",
		SchedulerUsers: []string{"tether-scheduler"}, MonitorUsers: []string{"monitor"}})

	sched, stop := startSession(tb, url, "tether-scheduler", "sched-pw")
	defer stop()
	topics, _ := protocol.NewTopics("default")
	now := time.Now().UTC().Truncate(time.Millisecond)
	var window []*session.Inflight
	for i := range n {
		cpu, mem := 12.5, 40.0
		id := fmt.Sprintf("pi-%05d", i)
		b, _ := json.Marshal(protocol.FleetRow{V: 1, TS: now, Scheduler: "s1", FleetNode: protocol.FleetNode{Node: id, Online: true, Arch: "arm64",
			Model: "Raspberry Pi 4 Model B Rev 1.4", Tier: "edge", CPU: &cpu, MemPct: &mem, LastSeen: now, Seq: 1234}})
		f, err := sched.PublishAsync(session.Message{Topic: topics.FleetRow(id), QoS: 1, Retained: true, Payload: b})
		if err != nil {
			tb.Fatal(err)
		}
		if window = append(window, f); len(window) >= 256 {
			if err := window[0].Wait(context.Background()); err != nil {
				tb.Fatal(err)
			}
			window = window[1:]
		}
	}
	for _, f := range window {
		if err := f.Wait(context.Background()); err != nil {
			tb.Fatal(err)
		}
	}
	sum, _ := json.Marshal(protocol.FleetSummary{V: 1, TS: now, Nodes: n, Online: n})
	st, _ := json.Marshal(protocol.SchedulerStatus{V: 1, State: protocol.StateOnline, Instance: "s1", Version: "t", TS: now})
	for topic, b := range map[string][]byte{topics.FleetSummary(): sum, topics.SchedulerStatus(): st} {
		if err := sched.Publish(context.Background(), session.Message{Topic: topic, QoS: 1, Retained: true, Payload: b}); err != nil {
			tb.Fatal(err)
		}
	}
	pwFile = filepath.Join(tb.TempDir(), "monitor.pw")
	if err := os.WriteFile(pwFile, []byte("mon-pw\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return url, pwFile
}

// TestNodesIsComplete: `tether-broker nodes` lists every node of a fleet
// of 6,000 from their retained rows, and says nothing is missing; a row an
// earlier run of the scheduler left is not listed.
func TestNodesIsComplete(t *testing.T) {
	t.Parallel()
	const n = 6000
	url, pw := nodesSite(t, n)
	publishRetained(t, url, "tether/v1/default/fleet/nodes/gone-node", protocol.FleetRow{V: 1, TS: time.Now().UTC().Truncate(time.Millisecond),
		Scheduler: "s0", FleetNode: protocol.FleetNode{Node: "gone-node", Online: true, LastSeen: time.Now().UTC().Truncate(time.Millisecond)}})
	env, out, errb := testEnv("")
	if err := Run(context.Background(), env, []string{"nodes", "--json", "--broker", url, "--password-file", pw, "--timeout", "30s"}); err != nil {
		t.Fatalf("nodes: %v\n%s", err, errb)
	}
	f, err := protocol.DecodeFleetNodes([]byte(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Nodes) != n || strings.Contains(errb.String(), "incomplete") {
		t.Fatalf("%d of %d nodes listed; stderr: %s", len(f.Nodes), n, errb)
	}
	for i, r := range f.Nodes {
		if want := fmt.Sprintf("pi-%05d", i); r.Node != want {
			t.Fatalf("row %d is %s, want %s (sorted, none missing)", i, r.Node, want)
		}
	}
}

// BenchmarkNodes10k is the time `tether-broker nodes` takes to answer for
// a fleet of 10,000 nodes on the embedded broker: connect, receive the
// summary and every retained row, print the table.
func BenchmarkNodes10k(b *testing.B) {
	url, pw := nodesSite(b, 10000)
	for b.Loop() {
		env, out, errb := testEnv("")
		if err := Run(context.Background(), env, []string{"nodes", "--broker", url, "--password-file", pw, "--timeout", "30s"}); err != nil {
			b.Fatalf("nodes: %v\n%s", err, errb)
		}
		if lines := strings.Count(out.String(), "\n"); lines != 10001 || errb.Len() > 0 {
			b.Fatalf("%d lines; stderr: %s", lines, errb)
		}
	}
}

func publishRetained(t *testing.T, url, topic string, v any) {
	t.Helper()
	c, err := session.New(session.Options{Brokers: []string{url}, ClientID: "tether-scheduler@p", Username: "tether-scheduler",
		Password: "sched-pw", CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := c.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	if err := c.Publish(context.Background(), session.Message{Topic: topic, QoS: 1, Retained: true, Payload: b}); err != nil {
		t.Fatal(err)
	}
}

// startSession connects a clean session to url as user and returns it
// with the function that ends it; the test fails if it is not connected
// within 10 s.
func startSession(tb testing.TB, url, user, password string) (*session.Session, func()) {
	tb.Helper()
	sess, err := session.New(session.Options{Brokers: []string{url}, ClientID: user + "@t", Username: user,
		Password: password, CleanSession: true})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sess.Run(ctx) }()
	stop := func() { cancel(); <-done }
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := sess.WaitConnected(wctx); err != nil {
		stop()
		tb.Fatal(err)
	}
	return sess, stop
}
