package serve

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestProbeSilenceBacksOff: a node with a probe in flight is not probed
// again; each probe in a row without an answer doubles the time it is
// skipped, up to the cap; one answer clears it; a probe ended by the
// scheduler's stop counts for nothing.
func TestProbeSilenceBacksOff(t *testing.T) {
	t.Parallel()
	const every = 5 * time.Minute
	p := newProbeSilence()
	now := time.Duration(0)
	if !p.start("n", now) || p.start("n", now) {
		t.Fatal("a node with a probe in flight was probed again")
	}
	var skips []time.Duration
	for range 6 {
		now += probeTimeout
		p.end("n", now, false, true, every)
		ended := now
		for p.start("n", now) == false {
			now += time.Second
		}
		skips = append(skips, now-ended)
	}
	want := []time.Duration{every, 2 * every, 4 * every, 8 * every, maxSilentSkip, maxSilentSkip}
	for i := range want {
		if skips[i] != want[i] {
			t.Fatalf("skips after 1..6 misses: %v, want %v", skips, want)
		}
	}
	p.end("n", now, false, false, every) // stopped: neither
	if p.misses("n") != 6 || !p.start("n", now) {
		t.Fatalf("a probe the stop ended changed the node: %d misses", p.misses("n"))
	}
	p.end("n", now, true, false, every)
	if p.misses("n") != 0 || !p.start("n", now) {
		t.Fatal("an answer did not clear the node's silence")
	}
	// An interval longer than the cap: skipped one interval each time.
	q := newProbeSilence()
	q.start("m", 0)
	q.end("m", 0, false, true, 2*time.Hour)
	q.start("m", 2*time.Hour) // due again
	q.end("m", 2*time.Hour, false, true, 2*time.Hour)
	if q.start("m", 4*time.Hour-time.Second) || !q.start("m", 4*time.Hour) {
		t.Fatal("with a 2 h interval a silent node was not probed once an interval")
	}
}

// TestSilentNodeHoldsNoProbeSlots: a node that never answers its probes
// (probes every second) is probed one at a time and then less and less
// often: over 12 s it receives at most the wants of two probes (a probe
// asks again every 3 s for up to 10 s). Before, every interval started
// another probe of it while the last still waited, each holding one of
// the 16 slots: 21 wants in the same time (5 with it). A node that answers keeps
// being measured beside it.
func TestSilentNodeHoldsNoProbeSlots(t *testing.T) {
	t.Parallel()
	s := newSiteCfg(t, func(users map[string]string) { users["quiet"] = "node-pw"; users["chatty"] = "node-pw" },
		func(c *config.Config) {
			// The row shows the link's sample count, which only the idle
			// refresh publishes: as often as the row refresh here.
			c.Placement.LinkProbe, c.FleetRowRefresh, c.FleetRowIdleRefresh = time.Second, 6*time.Second, 6*time.Second
		})
	topics, _ := protocol.NewTopics("default")
	var wants atomic.Int64
	quiet := dial(t, s.url, "quiet", "quiet", "node-pw")
	if err := quiet.Subscribe(context.Background(), topics.NodeCommand("quiet", protocol.CmdBlob), 1, func(session.Message) {
		wants.Add(1)
	}); err != nil {
		t.Fatal(err)
	}
	born := func(sess *session.Session, id string) {
		b, _ := json.Marshal(protocol.NodeStatus{Header: protocol.Header{V: 1, Node: id, Instance: "i-" + id, TS: time.Now()},
			State: protocol.StateOnline, Conn: 1, HeartbeatS: 60,
			Facts: &protocol.Facts{Hostname: id, OS: "linux", Arch: "arm64", Cores: 4, MemTotal: 4 << 30, AgentVersion: "t", Tier: "edge"}})
		if err := sess.Publish(context.Background(), session.Message{Topic: topics.NodeStatus(id), QoS: 1, Retained: true, Payload: b}); err != nil {
			t.Fatal(err)
		}
	}
	born(quiet, "quiet")
	// chatty answers like an agent: a blob store of its own serving the
	// scheduler's wants (it holds nothing, so each probe gets a missing).
	startOutputNode(t, s.url, "chatty", topics, s.key.Public().(ed25519.PublicKey), nil)
	mon := dial(t, s.url, "ops@t", "ops", "ops-pw")
	rows := listen(t, mon, topics.FleetRow("chatty"))
	start := time.Now()
	testenv.Eventually(t, 15*time.Second, "chatty's link measured 3 times", func() bool {
		for _, m := range rows.all() {
			if row, err := protocol.DecodeFleetRow(m.Payload); err == nil && row.Link != nil && row.Link.RTTSamples >= 3 {
				return true
			}
		}
		return false
	})
	for time.Since(start) < 12*time.Second {
		time.Sleep(100 * time.Millisecond) // kept: the wants are counted over a stretch of real time
	}
	t.Logf("the silent node received %d wants in 12 s", wants.Load())
	if n := wants.Load(); n == 0 || n > 8 {
		t.Fatalf("the silent node received %d wants in 12 s, want 1 to 8 (one probe at a time, then backing off)", n)
	}
}
