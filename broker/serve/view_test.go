package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/fleet"
	"github.com/tether-edge/tether/pkg/logging"
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
	t.Parallel()
	s := newSite(t)
	topics, _ := protocol.NewTopics("default")
	mon := dial(t, s.url, "monitor@rows", "monitor", "mon-pw")
	in := listenRows(t, mon, topics)

	sched := dial(t, s.url, "tether-scheduler@rows-test", "tether-scheduler", "sched-pw")
	sc := &scheduler{cfg: s.cfg, log: testLog(), topics: topics, sess: sched, fleet: fleet.New(fleet.Options{})}
	sc.badRows = logging.NewEvery(sc.log, time.Second)
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
	t.Parallel()
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

// TestOnlineChangeIsNotHeldBack: a node that goes offline just after its
// row was published shows offline on the next publication pass
// (minUrgentGap), not a fleet interval after that row. Before, a change of
// state waited for the interval from the row's last publication, so an
// agent stopped with SIGTERM right after a row went out stayed online in
// the view for up to a second (TestFleetLiveness allows 1 s).
func TestOnlineChangeIsNotHeldBack(t *testing.T) {
	t.Parallel()
	s := newSiteCfg(t, nil, func(c *config.Config) { c.FleetInterval = 10 * time.Second })
	topics, _ := protocol.NewTopics("default")
	mon := dial(t, s.url, "monitor@rows", "monitor", "mon-pw")
	in := listenRows(t, mon, topics)
	node := dial(t, s.url, "pi-a", "pi-a", "node-pw")
	h := protocol.Header{V: 1, Node: "pi-a", Instance: "i1", Store: "st1", TS: time.Now()}
	publishJSON(t, node, topics.NodeStatus("pi-a"), protocol.NodeStatus{Header: h, State: protocol.StateOnline, Conn: 1, HeartbeatS: 60,
		Facts: &protocol.Facts{Hostname: "h", OS: "linux", Arch: "arm64", Cores: 4, AgentVersion: "t", Tier: "edge"}})
	testenv.Eventually(t, 5*time.Second, "pi-a's row", func() bool { r, ok := in.get("pi-a"); return ok && r.Online })
	start := time.Now()
	publishJSON(t, node, topics.NodeStatus("pi-a"), protocol.NodeStatus{Header: h, State: protocol.StateOffline, Reason: protocol.ReasonShutdown, Conn: 1})
	testenv.Eventually(t, 2*time.Second, "pi-a offline in its row well within the 10 s fleet interval", func() bool {
		r, _ := in.get("pi-a")
		return !r.Online && r.Reason == protocol.ReasonShutdown
	})
	t.Logf("offline row %v after the goodbye (fleet interval %v)", time.Since(start).Round(time.Millisecond), s.cfg.FleetInterval)
}

func testLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestRefusedRowsArePublishedAgain: a persistent session of a scheduler
// user (another instance of the region's, stopped) that is away and full
// makes the embedded broker refuse the scheduler's rows (no PUBACK); a
// watcher's session never does (broker/mqttd's TestAwayWatcherHoldsNobody). Those rows are not counted as published: they are held
// for the next pass, and once the session is gone they reach every
// monitor — before, they counted as published and stayed missing until
// the node changed, and each waited its own timeout in turn.
func TestRefusedRowsArePublishedAgain(t *testing.T) {
	s := newSiteCfg(t, nil, func(c *config.Config) { c.Embedded.MaxPendingWrites = 16 })
	topics, _ := protocol.NewTopics("default")
	defer func(d time.Duration) { rowTimeout = d }(rowTimeout)
	rowTimeout = time.Second

	// A scheduler instance with a persistent session subscribes to the
	// rows and stops: its offline queue takes 16 messages, the flow limit
	// here.
	away, err := session.New(session.Options{Brokers: []string{s.url}, ClientID: "tether-scheduler@away", Username: "tether-scheduler", Password: "sched-pw"})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	adone := make(chan error, 1)
	go func() { adone <- away.Run(actx) }()
	if err := away.WaitConnected(actx); err != nil {
		t.Fatal(err)
	}
	if err := away.Subscribe(actx, topics.AllFleetRows(), 1, func(session.Message) {}); err != nil {
		t.Fatal(err)
	}
	acancel()
	<-adone

	sched := dial(t, s.url, "tether-scheduler@rows-again", "tether-scheduler", "sched-pw")
	sc := &scheduler{cfg: s.cfg, log: testLog(), topics: topics, sess: sched, fleet: fleet.New(fleet.Options{})}
	sc.badRows = logging.NewEvery(sc.log, time.Second)
	rows := map[string]protocol.FleetNode{}
	for i := range 40 {
		id := fmt.Sprintf("pi-%02d", i)
		rows[id] = protocol.FleetNode{Node: id, Online: true, LastSeen: time.Now()}
	}
	v := &views{last: map[string]published{}, due: map[string]time.Time{}, fresh: maps.Clone(rows)}
	start := time.Now()
	retry := sc.publishRows(context.Background(), v, time.Now())
	t.Logf("first pass: %d rows acknowledged, %d held, %v", len(v.last), len(v.due), time.Since(start))
	if len(v.due) == 0 || retry.IsZero() {
		t.Fatalf("no row refused (held %d, retry %v): the session's queue did not fill", len(v.due), retry)
	}
	if len(v.last)+len(v.due) != len(rows) {
		t.Fatalf("%d acknowledged + %d held, want %d", len(v.last), len(v.due), len(rows))
	}
	for id := range v.due {
		if _, ok := v.last[id]; ok {
			t.Fatalf("row %s counted as published and held", id)
		}
	}

	// The away session ends (its client returns with a clean session);
	// the next pass publishes what was held.
	dial(t, s.url, "tether-scheduler@away", "tether-scheduler", "sched-pw")
	clear(v.fresh)
	for id := range v.due {
		v.fresh[id] = rows[id]
	}
	clear(v.due)
	if retry := sc.publishRows(context.Background(), v, time.Now()); !retry.IsZero() || len(v.due) != 0 {
		t.Fatalf("second pass: %d rows held again", len(v.due))
	}
	in := listenRows(t, dial(t, s.url, "monitor@rows-again", "monitor", "mon-pw"), topics)
	testenv.Eventually(t, 5*time.Second, "every row retained", func() bool {
		in.mu.Lock()
		defer in.mu.Unlock()
		return len(in.rows) == len(rows)
	})
}
