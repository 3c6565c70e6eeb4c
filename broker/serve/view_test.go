package serve

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/fleet"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

// rowInbox keeps the latest row per node a monitor received.
type rowInbox struct {
	mu   sync.Mutex
	rows map[string]protocol.FleetRow
	sum  protocol.FleetSummary
	n    int // rows received, all nodes
}

func listenRows(t *testing.T, mon *session.Session, topics protocol.Topics) *rowInbox {
	t.Helper()
	in := &rowInbox{rows: map[string]protocol.FleetRow{}}
	if err := mon.Subscribe(context.Background(), topics.AllFleetRows(), 1, func(m session.Message) {
		if r, err := protocol.DecodeFleetRow(m.Payload); err == nil && m.Topic == topics.FleetRow(r.Node) {
			in.mu.Lock()
			in.rows[r.Node] = r
			in.n++
			in.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := mon.Subscribe(context.Background(), topics.FleetSummary(), 1, func(m session.Message) {
		if s, err := protocol.DecodeFleetSummary(m.Payload); err == nil {
			in.mu.Lock()
			in.sum = s
			in.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return in
}

func (in *rowInbox) get(id string) (protocol.FleetRow, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	r, ok := in.rows[id]
	return r, ok
}

// TestBadRowDoesNotStopTheView: a row that does not encode, or that a
// monitor's decoder would refuse, is left out and counted; every other
// node's row is published.
func TestBadRowDoesNotStopTheView(t *testing.T) {
	s := newSite(t)
	topics, _ := protocol.NewTopics("default")
	mon := dial(t, s.url, "monitor@rows", "monitor", "mon-pw")
	in := listenRows(t, mon, topics)

	sched := dial(t, s.url, "tether-scheduler@rows-test", "tether-scheduler", "sched-pw")
	sc := &scheduler{cfg: s.cfg, log: testLog(), topics: topics, sess: sched, fleet: fleet.New(fleet.Options{})}
	sc.badRows = newRateLog(sc.log, time.Second)
	nan, hot := math.NaN(), 1e6
	v := &views{last: map[string]published{}, due: map[string]time.Time{}, fresh: map[string]protocol.FleetNode{
		"good-1":  {Node: "good-1", Online: true, LastSeen: time.Now()},
		"nan-cpu": {Node: "nan-cpu", Online: true, CPU: &nan, LastSeen: time.Now()},
		"too-hot": {Node: "too-hot", Online: true, TempC: &hot, LastSeen: time.Now()},
		"good-2":  {Node: "good-2", Online: false, Reason: protocol.ReasonLost, LastSeen: time.Now()},
	}}
	sc.publishRows(context.Background(), v, time.Now())
	testenv.Eventually(t, 5*time.Second, "the good rows", func() bool {
		_, a := in.get("good-1")
		_, b := in.get("good-2")
		return a && b
	})
	for _, bad := range []string{"nan-cpu", "too-hot"} {
		if _, ok := in.get(bad); ok {
			t.Fatalf("row %s published", bad)
		}
	}
	if got := sc.fleet.Summary().BadRows; got != 2 {
		t.Fatalf("bad rows counted %d, want 2", got)
	}
}

// TestRowsFollowTheFleet: the scheduler publishes a node's row when it
// appears, an online change within a fleet interval, and a change of
// measurements only after the row refresh (config.RowRefresh).
func TestRowsFollowTheFleet(t *testing.T) {
	s := newSite(t)
	topics, _ := protocol.NewTopics("default")
	mon := dial(t, s.url, "monitor@rows", "monitor", "mon-pw")
	in := listenRows(t, mon, topics)
	node := dial(t, s.url, "pi-a", "pi-a", "node-pw")
	h := protocol.Header{V: 1, Node: "pi-a", Instance: "i1", Store: "st1", TS: time.Now()}
	publishJSON(t, node, topics.NodeStatus("pi-a"), protocol.NodeStatus{Header: h, State: protocol.StateOnline, Conn: 1, HeartbeatS: 60,
		Facts: &protocol.Facts{Hostname: "h", OS: "linux", Arch: "arm64", Cores: 4, AgentVersion: "t", Tier: "edge"}})
	testenv.Eventually(t, 5*time.Second, "pi-a's row", func() bool { r, ok := in.get("pi-a"); return ok && r.Online && r.Arch == "arm64" })
	in.mu.Lock()
	before := in.n
	in.mu.Unlock()
	for seq := uint64(1); seq <= 5; seq++ {
		// One report per publication pass: the summary goes out on
		// every pass, so a summary newer than the report says a pass
		// came after it.
		sent := time.Now()
		h.Seq, h.From, h.TS = seq, seq, sent
		b, _ := json.Marshal(protocol.Metrics{Header: h, CPU: protocol.CPU{Total: float64(seq)}})
		if err := node.Publish(context.Background(), session.Message{Topic: topics.NodeMetrics("pi-a"), QoS: 1, Payload: b}); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 5*time.Second, "a publication pass", func() bool {
			in.mu.Lock()
			defer in.mu.Unlock()
			return in.sum.TS.After(sent)
		})
	}
	publishJSON(t, node, topics.NodeStatus("pi-a"), protocol.NodeStatus{Header: h, State: protocol.StateOffline, Reason: protocol.ReasonShutdown, Conn: 1})
	testenv.Eventually(t, 5*time.Second, "pi-a offline in its row", func() bool { r, _ := in.get("pi-a"); return !r.Online && r.Reason == protocol.ReasonShutdown })
	in.mu.Lock()
	n := in.n - before
	in.mu.Unlock()
	if n > 2 {
		t.Fatalf("%d rows for 5 reports and a goodbye within %v: measurements are not held back", n, s.cfg.RowRefresh())
	}
}

func testLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
