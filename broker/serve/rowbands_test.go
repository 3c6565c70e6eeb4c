package serve

import (
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/testenv"
)

func TestMoved(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	base := protocol.FleetNode{Node: "n", Online: true, CPU: f(20), MemPct: f(40), TempC: f(50), Seq: 10,
		LastSeen: time.Unix(100, 0), Outbox: &protocol.Outbox{Pending: 0},
		Link: &protocol.LinkEstimate{RTTMS: 40, RTTSamples: 3, Mbps: 8, MbpsSamples: 2}}
	cases := []struct {
		name string
		mod  func(*protocol.FleetNode)
		want bool
	}{
		{"nothing", func(*protocol.FleetNode) {}, false},
		{"last seen, seq and measured", func(r *protocol.FleetNode) {
			r.LastSeen, r.Measured, r.Seq = time.Unix(200, 0), time.Unix(199, 0), 11
		}, false},
		{"cpu within its band", func(r *protocol.FleetNode) { r.CPU = f(29.9) }, false},
		{"cpu past its band", func(r *protocol.FleetNode) { r.CPU = f(30) }, true},
		{"cpu gone", func(r *protocol.FleetNode) { r.CPU = nil }, true},
		{"memory within", func(r *protocol.FleetNode) { r.MemPct = f(44) }, false},
		{"memory past", func(r *protocol.FleetNode) { r.MemPct = f(34.5) }, true},
		{"temperature within", func(r *protocol.FleetNode) { r.TempC = f(51.5) }, false},
		{"temperature past", func(r *protocol.FleetNode) { r.TempC = f(52) }, true},
		{"missing", func(r *protocol.FleetNode) { r.Missing = 1 }, true},
		{"dups", func(r *protocol.FleetNode) { r.Dups = 1 }, true},
		{"skew within", func(r *protocol.FleetNode) { r.ClockSkewMS = 999 }, false},
		{"skew past", func(r *protocol.FleetNode) { r.ClockSkewMS = -1000 }, true},
		{"backlog starts", func(r *protocol.FleetNode) { r.Outbox = &protocol.Outbox{Pending: 1, Bytes: 300} }, true},
		{"outbox dropped", func(r *protocol.FleetNode) { r.Outbox = &protocol.Outbox{Dropped: 1} }, true},
		{"outbox bytes only", func(r *protocol.FleetNode) { r.Outbox = &protocol.Outbox{Bytes: 4096} }, false},
		{"link rtt within", func(r *protocol.FleetNode) { l := *r.Link; l.RTTMS, l.RTTSamples = 49, 9; r.Link = &l }, false},
		{"link rtt past", func(r *protocol.FleetNode) { l := *r.Link; l.RTTMS = 50; r.Link = &l }, true},
		{"link up measured", func(r *protocol.FleetNode) { l := *r.Link; l.UpMbps, l.UpMbpsSamples = 3, 1; r.Link = &l }, true},
	}
	for _, c := range cases {
		b := base
		c.mod(&b)
		if got := moved(base, b); got != c.want {
			t.Errorf("%s: moved = %v, want %v", c.name, got, c.want)
		}
	}
	// A backlog that grows or shrinks by half, with the floor.
	ob := func(p int) protocol.FleetNode { r := base; r.Outbox = &protocol.Outbox{Pending: p}; return r }
	for _, c := range []struct {
		from, to int
		want     bool
	}{{1000, 1400, false}, {1000, 1500, true}, {1000, 500, true}, {10, 60, false}, {10, 110, true}} {
		if got := moved(ob(c.from), ob(c.to)); got != c.want {
			t.Errorf("backlog %d → %d: moved = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}

// TestRowsHoldJitterLonger: a report whose readings stay within their
// bands does not move a node's row at the row refresh, only at
// the idle refresh (5 row refreshes by default); one past its band goes out at the refresh.
func TestRowsHoldJitterLonger(t *testing.T) {
	t.Parallel()
	const refresh = time.Second
	s := newSiteCfg(t, nil, func(c *config.Config) { c.FleetInterval, c.FleetRowRefresh = 100*time.Millisecond, refresh })
	topics, _ := protocol.NewTopics("default")
	mon := dial(t, s.url, "monitor@jitter", "monitor", "mon-pw")
	in := listenRows(t, mon, topics)
	node := dial(t, s.url, "pi-a", "pi-a", "node-pw")
	h := protocol.Header{V: 1, Node: "pi-a", Instance: "i1", Store: "st1", TS: time.Now()}
	publishJSON(t, node, topics.NodeStatus("pi-a"), protocol.NodeStatus{Header: h, State: protocol.StateOnline, Conn: 1, HeartbeatS: 60,
		Facts: &protocol.Facts{Hostname: "h", OS: "linux", Arch: "arm64", Cores: 4, AgentVersion: "t", Tier: "edge"}})
	report := func(seq uint64, cpu float64) {
		h.Seq, h.From, h.TS = seq, seq, time.Now()
		publishJSON(t, node, topics.NodeMetrics("pi-a"), protocol.Metrics{Header: h, CPU: protocol.CPU{Total: cpu}, Mem: protocol.Mem{Percent: 30}})
	}
	cpuIs := func(v float64) func() bool {
		return func() bool { r, ok := in.get("pi-a"); return ok && r.CPU != nil && *r.CPU == v }
	}
	report(1, 5)
	testenv.Eventually(t, 5*time.Second, "the first metrics in pi-a's row", cpuIs(5))

	report(2, 7)
	// kept: that a row does not come can only be shown by waiting; 2.5
	// refreshes, half of the idle wait.
	time.Sleep(5 * refresh / 2)
	if r, _ := in.get("pi-a"); *r.CPU != 5 || r.Seq != 1 {
		t.Fatalf("a reading within its band went out within %v (row refresh %v): cpu %v seq %d", 5*refresh/2, refresh, *r.CPU, r.Seq)
	}

	report(3, 30)
	testenv.Eventually(t, 2*time.Second, "a reading past its band in the row, its refresh long past", cpuIs(30))
	at := time.Now()

	report(4, 31)
	testenv.Eventually(t, 5*refresh+3*time.Second, "a reading within its band, after the idle wait", cpuIs(31))
	if el := time.Since(at); el < 5*refresh-refresh {
		t.Fatalf("a reading within its band went out %v after the previous row; the idle wait is %v", el, 5*refresh)
	}
}
