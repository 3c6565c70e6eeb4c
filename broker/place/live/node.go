package live

import (
	"math"
	"strconv"

	"github.com/tether-edge/tether/broker/place"
	"github.com/tether-edge/tether/broker/place/links"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
)

// Labels a node may carry to describe itself to placement (agent `--label k=v`). Values that
// do not parse, or lie outside their range, are ignored.
const (
	// LabelSlots is how many tasks the node runs at once (1 to 1024). Agents report their
	// tasks.slots in their facts (task_slots); the label overrides that, and a node
	// that reports neither counts its cores. The engine bounds the claim (taskengine.Limits,
	// taskengine.NodeState.Slots), and that bound is what placement uses.
	LabelSlots = taskengine.LabelSlots
	// LabelSpeed is one slot's speed in work units per second (a Pi 4 core is 1, a Pi Zero 2
	// W core about 0.4, a Pi 5 core about 2): the prior the scheduler starts from before it
	// has learned the node (above 0, at most 1000, and at most the operator's
	// taskengine.NodeState.MaxSpeed), for a node whose board is not one placement knows
	// (board.go); a rate learned from the node's results outranks both.
	LabelSpeed = "tether.speed"
	// LabelRTT is the round trip between the node and the site in milliseconds (0 to
	// 60000); for a cloud node it replaces the WAN's.
	LabelRTT = "tether.rtt_ms"
	// LabelBandwidth is the node's bandwidth to the site in Mbit/s (above 0, at most 10⁶);
	// for a cloud node it caps the WAN's.
	LabelBandwidth = "tether.bandwidth_mbps"
)

// declare is how placement sees node n.
func (p *Placer) declare(n *taskengine.NodeState) place.NodeSpec {
	d := place.NodeSpec{ID: n.ID, Tier: place.TierEdge, Cores: min(max(n.Cores, 1), maxSlots), Speed: defaultSpeed,
		MemBytes: max(n.MemTotal, 0)}
	if n.Tier == protocol.TierCloud {
		d.Tier = place.TierCloud
	} else {
		d.RTT, d.Bandwidth = p.opt.LAN.RTT.Seconds(), p.opt.LAN.Mbps*bytesPerMegabit
	}
	if n.TaskSlots > 0 {
		d.Cores = min(n.TaskSlots, maxSlots) // what the agent says it runs at once
	}
	if v, ok := label(n, LabelSlots, 1, maxSlots); ok && v == math.Trunc(v) {
		d.Cores = int(v)
	}
	if n.Slots > 0 {
		d.Cores = min(n.Slots, maxSlots) // the engine's bound on the claim (taskengine.Limits)
	}
	if v, ok := label(n, LabelSpeed, 0, 1000); ok && v > 0 {
		d.Speed = v
	}
	if v, ok := boardSpeed(n.Model); ok {
		d.Speed = v // the board it reports outranks what its label declares (board.go)
	}
	if n.MaxSpeed > 0 {
		d.Speed = min(d.Speed, n.MaxSpeed) // a prior only: results teach the node's own rate
	}
	if v, ok := label(n, LabelRTT, 0, 60000); ok {
		d.RTT = v / 1000
	}
	if v, ok := label(n, LabelBandwidth, 0, 1e6); ok && v > 0 {
		d.Bandwidth = v * bytesPerMegabit
	}
	if p.opt.Links != nil {
		p.measured(&d)
	}
	return d
}

// measured blends a node's measured link into its declared (configured) one: the
// configuration is the prior, each measurement evidence (links.Blend); each direction
// of the bandwidth blends its own measurements. A cloud node's
// link is the WAN's (refreshWAN), except for what its labels declare of its own.
func (p *Placer) measured(d *place.NodeSpec) {
	e, ok := p.opt.Links.Get(d.ID)
	if !ok {
		return
	}
	if e.RTTSamples > 0 && (d.Tier == place.TierEdge || d.RTT > 0) {
		d.RTT = links.Blend(d.RTT, e.RTT.Seconds(), e.RTTSamples)
	}
	prior := d.Bandwidth
	if e.MbpsSamples > 0 && prior > 0 {
		d.Bandwidth = links.Blend(prior, e.Mbps*bytesPerMegabit, e.MbpsSamples)
	}
	if e.UpSamples > 0 && prior > 0 {
		// The direction to the node, measured apart; until it is, the blend above
		// stands for both.
		d.BandwidthIn = links.Blend(prior, e.UpMbps*bytesPerMegabit, e.UpSamples)
	}
}

// label returns the finite number labelled key on n within [lo, hi].
func label(n *taskengine.NodeState, key string, lo, hi float64) (float64, bool) {
	return labelValue(n.Labels, key, lo, hi)
}

func labelValue(labels map[string]string, key string, lo, hi float64) (float64, bool) {
	s, ok := labels[key]
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v < lo || v > hi {
		return 0, false
	}
	return v, true
}

// report is node n's latest metrics as placement telemetry. Background load is the CPU share
// the node reports busy less the share of the tasks the scheduler has running there (each
// taken to keep one slot's core busy), within [0, 0.95].
func (p *Placer) report(n *taskengine.NodeState, i int, now float64) place.Report {
	r := place.Report{At: now, Queue: p.fleet.Assigned(i)}
	if n.Throttled {
		r.Health |= place.Throttled
	}
	if n.Undervoltage {
		r.Health |= place.Undervoltage
	}
	if p.opt.IgnoreLoad || !(n.CPU > 0) {
		return r
	}
	decl := p.fleet.Node(i)
	ours := float64(min(p.fleet.Assigned(i), decl.Cores)) / float64(max(n.Cores, 1))
	r.BgLoad = min(max(min(n.CPU, 1)-ours, 0), maxLoad)
	return r
}
