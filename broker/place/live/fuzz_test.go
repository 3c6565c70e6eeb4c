package live

import (
	"math"
	"testing"

	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
)

// FuzzNode: whatever facts, labels and metrics a node sends, it is declared within bounds
// and its report is sane; placing a task on a fleet of it does not fail.
func FuzzNode(f *testing.F) {
	f.Add(4, int64(1<<30), 0.5, "2", "0.4", "5", "30", false)
	f.Add(1<<30, int64(-1), math.Inf(1), "1e400", "NaN", "-1", "0", true)
	f.Add(0, int64(0), -3.0, "0x10", "+Inf", "6e4", "1e6", true)
	// A node claiming 4096 slots and 1000 reference cores per slot.
	f.Add(4, int64(1<<30), 0.0, "4096", "1000", "0", "1000000", false)
	f.Fuzz(func(t *testing.T, cores int, mem int64, cpu float64, slots, speed, rtt, bw string, cloud bool) {
		g := newRig(t)
		tier := protocol.TierEdge
		if cloud {
			tier = protocol.TierCloud
		}
		g.node("n", tier, cores, func(n *taskengine.NodeState) {
			n.MemTotal, n.CPU, n.Throttled = mem, cpu, cpu > 0.5
			n.Labels = map[string]string{LabelSlots: slots, LabelSpeed: speed, LabelRTT: rtt, LabelBandwidth: bw}
		})
		d := g.p.fleet.Node(g.index("n"))
		if d.Cores < 1 || d.Cores > maxSlots || !(d.Speed > 0) || math.IsInf(d.Speed, 0) || !(d.RTT >= 0) ||
			math.IsInf(d.RTT, 0) || !(d.Bandwidth >= 0) || math.IsInf(d.Bandwidth, 0) || d.MemBytes < 0 {
			t.Fatalf("declared %+v", *d)
		}
		if r := g.p.fleet.Reported(g.index("n")); !(r.BgLoad >= 0 && r.BgLoad <= maxLoad) {
			t.Fatalf("report %+v", r)
		}
		g.place(sleepTask("t", 1, 1e6, 0))
	})
}
