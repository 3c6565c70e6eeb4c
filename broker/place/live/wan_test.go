package live

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/place/links"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
)

// TestMeasuredWANMovesThePlacement: a cloud VM four times faster than an
// edge node, behind a WAN configured at 60 ms and 100 Mbit/s each way. A
// 10-unit task with a 40 MB result goes to the VM (2.5 s + 3.2 s for the
// result). Then the WAN measures 2 Mbit/s down and 300 ms round trips: at
// vm-1's next report the fleet's WAN is the prior blended with the pooled
// estimate (the prior counting as one sample), the up direction as
// configured, and the same tasks stay at the edge.
func TestMeasuredWANMovesThePlacement(t *testing.T) {
	tb := links.NewTable()
	prior := WAN{RTT: 60 * time.Millisecond, UpMbps: 100, DownMbps: 100}
	g := newRig(t, func(o *Options) { o.Links, o.WAN = tb, prior })
	fast := func(n *taskengine.NodeState) { n.Labels = map[string]string{LabelSpeed: "4"} }
	g.node("pi", protocol.TierEdge, 4)
	g.node("vm-1", protocol.TierCloud, 4, fast)
	result := func(id string) string {
		s := sleepTask(id, 10, 0, 0)
		s.OutputBytes = 40e6
		return g.place(s)
	}
	for i := range 2 {
		if got := result(fmt.Sprintf("before-%d", i)); got != "vm-1" {
			t.Fatalf("by the configured WAN a 40 MB result should come from vm-1; went to %q", got)
		}
	}
	for i := range 7 {
		if _, _, err := tb.ObserveWANTransfer(1<<20, 4194304*time.Microsecond, time.Duration(i)*time.Second); err != nil { // 2 Mbit/s
			t.Fatal(err)
		}
		tb.ObserveWANRTT(300*time.Millisecond, time.Duration(i)*time.Second)
	}
	if w := g.p.fleet.WAN(); w.Down != 100*bytesPerMegabit {
		t.Fatalf("the WAN changed before a cloud node's report: %+v", w)
	}
	g.node("vm-1", protocol.TierCloud, 4, fast) // its next report
	w := g.p.fleet.WAN()
	if want := (100 + 7*2.0) / 8 * bytesPerMegabit; math.Abs(w.Down-want) > want*1e-9 {
		t.Errorf("WAN down %.0f B/s, want %.0f (the prior and 7 samples of 2 Mbit/s)", w.Down, want)
	}
	if want := (0.060 + 7*0.300) / 8; math.Abs(w.RTT-want) > 1e-9 {
		t.Errorf("WAN round trip %.4f s, want %.4f", w.RTT, want)
	}
	if w.Up != 100*bytesPerMegabit {
		t.Errorf("WAN up %.0f B/s, want the configured 100 Mbit/s (not measured)", w.Up)
	}
	if want := wanLink(BlendWAN(prior, must(tb.WAN()))); w != want {
		t.Errorf("the fleet's WAN %+v, BlendWAN's %+v", w, want)
	}
	for i := range 2 {
		if got := result(fmt.Sprintf("after-%d", i)); got != "pi" {
			t.Errorf("by the measured WAN a 40 MB result should stay at the edge; went to %q", got)
		}
	}
}

// TestMeasuredWANUpKeepsInputsAtTheEdge: the same fleet and WAN; a 10-unit
// task with a 40 MB input the scheduler holds goes to the VM by the
// configuration (3.2 s to send the input, 2.5 s of work, against 10 s at
// the edge). Then transfers to the cloud nodes measure the WAN's up
// direction at 2 Mbit/s: at vm-1's next report placement blends it over
// the configured up (the prior counting as one sample), down stays as
// configured, and the same tasks stay at the edge.
func TestMeasuredWANUpKeepsInputsAtTheEdge(t *testing.T) {
	tb := links.NewTable()
	prior := WAN{RTT: 60 * time.Millisecond, UpMbps: 100, DownMbps: 100}
	g := newRig(t, func(o *Options) { o.Links, o.WAN = tb, prior })
	fast := func(n *taskengine.NodeState) { n.Labels = map[string]string{LabelSpeed: "4"} }
	g.node("pi", protocol.TierEdge, 4)
	g.node("vm-1", protocol.TierCloud, 4, fast)
	input := func(id string) string { return g.place(sleepTask(id, 10, 40e6, 0)) }
	for i := range 2 {
		if got := input(fmt.Sprintf("before-%d", i)); got != "vm-1" {
			t.Fatalf("by the configured WAN a task with a 40 MB input should go to vm-1; went to %q", got)
		}
	}
	for i := range 7 {
		if _, _, err := tb.ObserveWANUpTransfer(1<<20, 4194304*time.Microsecond, time.Duration(i)*time.Second); err != nil { // 2 Mbit/s
			t.Fatal(err)
		}
	}
	g.node("vm-1", protocol.TierCloud, 4, fast) // its next report
	w := g.p.fleet.WAN()
	if want := (100 + 7*2.0) / 8 * bytesPerMegabit; math.Abs(w.Up-want) > want*1e-9 {
		t.Errorf("WAN up %.0f B/s, want %.0f (the prior and 7 samples of 2 Mbit/s)", w.Up, want)
	}
	if w.Down != 100*bytesPerMegabit {
		t.Errorf("WAN down %.0f B/s, want the configured 100 Mbit/s (not measured)", w.Down)
	}
	for i := range 2 {
		if got := input(fmt.Sprintf("after-%d", i)); got != "pi" {
			t.Errorf("by the measured WAN up a task with a 40 MB input should stay at the edge; went to %q", got)
		}
	}
}

// TestCloudNodeWithItsOwnPath: a cloud node that declares its own round
// trip (a farther region) and bandwidth blends its own measurements into
// them, as an edge node does; one that declares neither keeps the WAN's
// (zero: its path is the WAN), whatever it measured alone.
func TestCloudNodeWithItsOwnPath(t *testing.T) {
	tb := links.NewTable()
	g := newRig(t, func(o *Options) { o.Links = tb })
	far := func(n *taskengine.NodeState) {
		n.Labels = map[string]string{LabelRTT: "200", LabelBandwidth: "10"}
	}
	for range 3 {
		tb.ObserveRTT("vm-far", 400*time.Millisecond, 0)
		tb.ObserveTransfer("vm-far", 1<<20, 1677722*time.Microsecond, 0) // 5 Mbit/s
		tb.ObserveRTT("vm-near", 90*time.Millisecond, 0)
	}
	g.node("vm-far", protocol.TierCloud, 2, far)
	g.node("vm-near", protocol.TierCloud, 2)
	d := g.p.fleet.Node(g.index("vm-far"))
	if want := (0.2 + 3*0.4) / 4; math.Abs(d.RTT-want) > 1e-9 {
		t.Errorf("vm-far's round trip %.4f, want %.4f", d.RTT, want)
	}
	if want := (10 + 3*5.0) / 4 * bytesPerMegabit; math.Abs(d.Bandwidth-want) > want*1e-6 {
		t.Errorf("vm-far's bandwidth %.0f, want %.0f", d.Bandwidth, want)
	}
	if n := g.p.fleet.Node(g.index("vm-near")); n.RTT != 0 || n.Bandwidth != 0 {
		t.Errorf("vm-near declared %+v, want the WAN's path (zeros)", *n)
	}
	for _, c := range []struct {
		labels    map[string]string
		rtt, rate bool
	}{
		{nil, true, true},
		{map[string]string{LabelRTT: "200"}, false, true},
		{map[string]string{LabelBandwidth: "10"}, true, false},
		{map[string]string{LabelRTT: "0", LabelBandwidth: "nonsense"}, true, true},
		{map[string]string{LabelRTT: "70000", LabelBandwidth: "-1"}, true, true},
	} {
		if rtt, rate := WANPath(c.labels); rtt != c.rtt || rate != c.rate {
			t.Errorf("WANPath(%v) = %v, %v; want %v, %v", c.labels, rtt, rate, c.rtt, c.rate)
		}
	}
}

// TestRestoredWANAtStart: a Placer made over a table that already holds a
// WAN estimate (restored from before a restart) starts with it.
func TestRestoredWANAtStart(t *testing.T) {
	tb := links.NewTable()
	tb.ObserveWANRTT(140*time.Millisecond, 0)
	g := newRig(t, func(o *Options) { o.Links = tb })
	if got, want := g.p.fleet.WAN().RTT, (0.160+0.140)/2; math.Abs(got-want) > 1e-9 {
		t.Errorf("WAN round trip at start %.4f s, want %.4f", got, want)
	}
}

func must(e links.Estimate, ok bool) links.Estimate {
	if !ok {
		panic("no estimate")
	}
	return e
}
