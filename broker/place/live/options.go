package live

import (
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/tether-edge/tether/broker/place/links"
)

// Options configure a Placer; the zero value is usable (the defaults in parentheses).
type Options struct {
	// Policy is the scheduler's policy, for tasks whose spec names none (tether). Names lists
	// the choices.
	Policy string
	// LAN is an edge node's path to the site, unless its labels say otherwise (2 ms, 100
	// Mbit/s).
	LAN Link
	// WAN is the site's link to the cloud tier, shared by all cloud traffic (60 ms, 20 Mbit/s
	// each way): a cloud node's labels may give it its own round trip or a slower bandwidth.
	WAN WAN
	// IgnoreLoad makes the Placer disregard the CPU load nodes report. Set it where the
	// reports describe a shared host rather than the node (several agents in containers or
	// test processes on one machine): each would count the others' work as its own
	// background load.
	IgnoreLoad bool
	// NoPreempt turns deadline preemption off (Victim names none): a separate mechanism on
	// top of the Tether policy, which the simulator's Tether does not have. srtf, which
	// preempts by definition, refuses it (New fails).
	NoPreempt bool
	// Tether tunes the Tether policy (broker/place's defaults).
	Tether TetherOptions
	// Links, if set, are the links as measured (broker/place/links): an edge node's,
	// a cloud node's that declares a path of its own (labels), and the WAN's, pooled
	// from the other cloud nodes. The configured link (LAN, WAN, labels) is the prior
	// and a measurement the evidence (links.Blend, BlendWAN). Nil: the configured
	// links alone.
	Links LinkSource

	Now    func() time.Time // time.Now
	Rand   *rand.Rand       // the random policies' source; nil: seeded from the clock
	Logger *slog.Logger     // none
}

// LinkSource gives a node's measured link and the WAN's; *links.Table is one. It must
// be safe for concurrent use: the scheduler records measurements while placement reads
// them.
type LinkSource interface {
	Get(node string) (links.Estimate, bool)
	WAN() (links.Estimate, bool)
}

var _ LinkSource = (*links.Table)(nil)

// Link is a path between a node and the site.
type Link struct {
	RTT  time.Duration // round trip
	Mbps float64       // bandwidth, megabits per second
}

// WAN is the site's link to the cloud tier.
type WAN struct {
	RTT      time.Duration
	UpMbps   float64 // site → cloud
	DownMbps float64 // cloud → site
}

// TetherOptions are the Tether policy's tunables that a scheduler may set.
type TetherOptions struct {
	// HealthPenalty stretches the estimated time of a node reporting throttling or
	// undervoltage (2).
	HealthPenalty float64
}

// Defaults of Options.
const (
	DefaultLANRTT   = 2 * time.Millisecond
	DefaultLANMbps  = 100
	DefaultWANRTT   = 60 * time.Millisecond
	DefaultWANMbps  = 20
	defaultSpeed    = 1.0  // a reference core
	maxSlots        = 1024 // a node's slots are clamped to this: the fleet sizes per-node state by them
	maxLoad         = 0.95 // a node is never believed to give a task less than 5 % of a core
	bytesPerMegabit = 1e6 / 8
)

func (o *Options) ensureDefaults() {
	if o.Policy == "" {
		o.Policy = DefaultPolicy
	}
	if o.LAN.RTT <= 0 {
		o.LAN.RTT = DefaultLANRTT
	}
	if o.LAN.Mbps <= 0 {
		o.LAN.Mbps = DefaultLANMbps
	}
	o.WAN = o.WAN.withDefaults()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		seed := uint64(o.Now().UnixNano())
		o.Rand = rand.New(rand.NewPCG(seed, seed^0x7e7e))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// withDefaults is w with the defaults for what it leaves unset.
func (w WAN) withDefaults() WAN {
	if w.RTT <= 0 {
		w.RTT = DefaultWANRTT
	}
	if w.UpMbps <= 0 {
		w.UpMbps = DefaultWANMbps
	}
	if w.DownMbps <= 0 {
		w.DownMbps = DefaultWANMbps
	}
	return w
}
