package place

// Tier says where a node runs.
type Tier uint8

const (
	// TierEdge is a device at the regional site (Raspberry Pi class).
	TierEdge Tier = iota
	// TierCloud is a cloud VM or the elastic cloud pool, reached over the site's WAN link.
	TierCloud
)

func (t Tier) String() string {
	if t == TierCloud {
		return "cloud"
	}
	return "edge"
}

// TierMask is a set of allowed tiers; the zero value allows every tier.
type TierMask uint8

// Allows reports whether tier t is in the mask (an empty mask allows all).
func (m TierMask) Allows(t Tier) bool { return m == 0 || m&(1<<t) != 0 }

// MaskOf returns the mask holding exactly the given tiers.
func MaskOf(ts ...Tier) TierMask {
	var m TierMask
	for _, t := range ts {
		m |= 1 << t
	}
	return m
}

// Health holds the health flags a node reports (from vcgencmd get_throttled on a Pi).
type Health uint8

const (
	// Throttled: the SoC is thermally throttled; it runs slower than its profile says.
	Throttled Health = 1 << iota
	// Undervoltage: the supply sags; the node is slow and likely to brown out and reboot.
	Undervoltage
)

// NodeSpec is the static description of a node, as declared when it joins:
// placement's input (place/live declares it from the engine's NodeState).
type NodeSpec struct {
	ID    string
	Tier  Tier
	Cores int // slots: one task per core
	// Speed is the declared speed of one core in work units per second (from the hardware
	// profile). It is only a prior: the View learns the real rate per task class.
	Speed    float64
	MemBytes int64
	// RTT and Bandwidth describe the node's path to the regional site. A cloud node is reached
	// over the WAN link, which all cloud traffic shares (see Link); for it, zero means the WAN's
	// values, and a non-zero RTT replaces the WAN's round trip and a non-zero Bandwidth caps it
	// (a cloud region farther away or behind a slower path).
	RTT       float64 // seconds, round trip
	Bandwidth float64 // bytes per second
	// BandwidthIn, when not zero, is the bandwidth from the site to the node where it
	// differs from Bandwidth (measured apart: the live scheduler's links); zero means
	// Bandwidth, both ways.
	BandwidthIn float64
	// PricePerCPUSecond is the cost of one core-second; only cloud nodes have one.
	PricePerCPUSecond float64
}

// InBandwidth is the node's bandwidth from the site: BandwidthIn, else Bandwidth.
func (n *NodeSpec) InBandwidth() float64 {
	if n.BandwidthIn > 0 {
		return n.BandwidthIn
	}
	return n.Bandwidth
}

// Capacity is the declared capacity: cores × speed, in work units per second.
func (n *NodeSpec) Capacity() float64 { return float64(n.Cores) * n.Speed }

// Report is one telemetry report from a node, as delivered to the scheduler (possibly stale).
type Report struct {
	At     float64 // when the node sampled it
	BgLoad float64 // fraction of CPU taken by work Tether did not place, in [0,1)
	Health Health
	Queue  int // tasks the node says it holds, queued plus running
}

// Link is the site's shared WAN link to the cloud tier.
type Link struct {
	RTT  float64 // seconds, site ↔ cloud round trip
	Up   float64 // bytes per second, site → cloud, shared by all uploads
	Down float64 // bytes per second, cloud → site
}
