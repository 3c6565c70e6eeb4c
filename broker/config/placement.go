package config

import (
	"path/filepath"
	"time"

	"github.com/tether-edge/tether/broker/place/live"
	"github.com/tether-edge/tether/broker/taskengine"
)

// Placement configures how the scheduler chooses the node for each task
// (broker/place/live; docs/scheduling.md, "Live placement").
type Placement struct {
	// Policy places the tasks whose spec names none: tether (the cost
	// model), p2c, least-work, least-loaded, round-robin, random or
	// weighted-random, any of which a spec may name for itself; or a
	// central queue at the scheduler — fifo, sjf, srtf, edf or priority —
	// which holds every task until a slot frees (srtf also preempts for
	// a shorter task, edf also refuses a deadline it cannot meet).
	Policy string `yaml:"policy"`
	// BackgroundLoad makes the CPU load nodes report, less the
	// scheduler's own tasks there, slow their estimates. Turn it off
	// where agents share a host and each reports the host's load.
	BackgroundLoad bool `yaml:"background_load"`
	// LAN is an edge node's path to the site, unless its tether.rtt_ms and
	// tether.bandwidth_mbps labels say otherwise.
	LAN Link `yaml:"lan"`
	// WAN is the site's link to the cloud tier, shared by all cloud
	// traffic; a cloud node's labels may give it its own round trip or a
	// slower bandwidth.
	WAN WANLink `yaml:"wan"`
	// LinkProbe is how often each online node's round trip is measured
	// with a light probe through the broker (two small messages); the
	// measured links refine the configured ones (docs/scheduling.md,
	// "Links measured live"). 0 turns the probes off; transfers are
	// measured either way.
	LinkProbe time.Duration `yaml:"link_probe"`
	// Preempt lets the Tether policy take back a running checkpointable
	// task without a deadline when a task with one would otherwise miss
	// it (docs/scheduling.md, "Preemption for deadlines"). It is a
	// mechanism on top of the policy, by the same rule as the simulator's
	// Tether (place.TetherVictim). srtf preempts by definition and needs
	// it on.
	Preempt bool `yaml:"preempt"`
	// YieldWait is how long a preempted attempt's node is given to yield
	// it — save a checkpoint now, stop it, report it yielded — before the
	// scheduler cancels it as a node that does not answer (the task then
	// resumes from its last periodic checkpoint). It is the most a
	// preemption delays the task it makes room for. 0: no yield, cancel
	// at once (docs/scheduling.md, "Preemption for deadlines").
	YieldWait time.Duration `yaml:"yield_wait"`
	// NodeQueue is how many tasks beyond its slots the Tether policy may
	// commit to a node, to wait in its agent's queue while the running
	// ones finish, when the cost model says the task is done there sooner
	// than anywhere with a free slot (docs/scheduling.md, "Tether's node
	// queue"). A node is then assigned at most its slots plus NodeQueue
	// tasks; 0, the default (place.DefaultNodeQueue), places on a free
	// slot only. The central queues bind to free slots only and ignore it.
	NodeQueue int `yaml:"node_queue"`
}

// maxNodeQueue bounds placement.node_queue: the most tasks the scheduler
// may commit to one node beyond its slots.
const maxNodeQueue = 1024

// DefaultLinkProbe measures each node's round trip every 5 minutes: at
// 10,000 nodes, 33 probes a second, against 1,000 metrics reports.
const DefaultLinkProbe = 5 * time.Minute

// Link is a path between a node and the site.
type Link struct {
	RTT           time.Duration `yaml:"rtt"`
	BandwidthMbps float64       `yaml:"bandwidth_mbps"`
}

// WANLink is the site's link to the cloud tier.
type WANLink struct {
	RTT      time.Duration `yaml:"rtt"`
	UpMbps   float64       `yaml:"up_mbps"`   // site → cloud
	DownMbps float64       `yaml:"down_mbps"` // cloud → site
}

// DefaultPlacement is the placement section used when nothing is set.
func DefaultPlacement() Placement {
	return Placement{
		Policy:         live.DefaultPolicy,
		BackgroundLoad: true,
		LAN:            Link{RTT: live.DefaultLANRTT, BandwidthMbps: live.DefaultLANMbps},
		WAN:            WANLink{RTT: live.DefaultWANRTT, UpMbps: live.DefaultWANMbps, DownMbps: live.DefaultWANMbps},
		LinkProbe:      DefaultLinkProbe,
		Preempt:        true,
		YieldWait:      taskengine.DefaultYieldWait,
		NodeQueue:      live.DefaultNodeQueue,
	}
}

// EngineNodeQueue is the task engine's NodeQueue (taskengine.Options): the
// section's NodeQueue, or 0 under a central queue.
func (p *Placement) EngineNodeQueue() int { return live.NodeQueue(p.Policy, p.NodeQueue) }

// EngineYieldWait is the task engine's YieldWait (taskengine.Options): the
// section's, or negative (no yield) for 0.
func (p *Placement) EngineYieldWait() time.Duration {
	if p.YieldWait == 0 {
		return -1
	}
	return p.YieldWait
}

// maxYieldWait bounds placement.yield_wait: a preemption serves a
// deadline, which a longer wait would rather spend.
const maxYieldWait = 30 * time.Second

// Options are the Placer's options this section sets.
func (p *Placement) Options() live.Options {
	return live.Options{
		Policy:     p.Policy,
		LAN:        live.Link{RTT: p.LAN.RTT, Mbps: p.LAN.BandwidthMbps},
		WAN:        live.WAN{RTT: p.WAN.RTT, UpMbps: p.WAN.UpMbps, DownMbps: p.WAN.DownMbps},
		IgnoreLoad: !p.BackgroundLoad,
		NoPreempt:  !p.Preempt,
	}
}

func (p *Placement) validate(add func(format string, args ...any)) {
	if name, err := live.Canonical(p.Policy); err != nil {
		add("placement.policy: %v", err)
	} else if name == "srtf" && !p.Preempt {
		add("placement.policy srtf preempts by definition: set placement.preempt to true, or use sjf, the same order without preemption")
	}
	rtt := func(key string, d time.Duration) {
		if d <= 0 || d > time.Minute {
			add("placement.%s %v: a round trip above 0 and at most 1m, such as 2ms on a LAN or 60ms to a cloud region", key, d)
		}
	}
	mbps := func(key string, v float64) {
		if !(v > 0 && v <= 1e6) {
			add("placement.%s %v: megabits per second, above 0 and at most 1000000", key, v)
		}
	}
	rtt("lan.rtt", p.LAN.RTT)
	mbps("lan.bandwidth_mbps", p.LAN.BandwidthMbps)
	rtt("wan.rtt", p.WAN.RTT)
	mbps("wan.up_mbps", p.WAN.UpMbps)
	mbps("wan.down_mbps", p.WAN.DownMbps)
	if p.NodeQueue < 0 || p.NodeQueue > maxNodeQueue {
		add("placement.node_queue %d: tasks beyond a node's slots, from 0 (a free slot only) to %d", p.NodeQueue, maxNodeQueue)
	}
	if p.YieldWait != 0 && (p.YieldWait < 100*time.Millisecond || p.YieldWait > maxYieldWait) {
		add("placement.yield_wait %v: between 100ms and %v, or 0 to cancel a preempted attempt without asking it to yield",
			p.YieldWait, maxYieldWait)
	}
	if p.LinkProbe != 0 && (p.LinkProbe < time.Second || p.LinkProbe > 24*time.Hour) {
		add("placement.link_probe %v: between 1s and 24h, or 0 to probe no node", p.LinkProbe)
	}
}

// LinksFile returns where the scheduler keeps its link estimates across a
// restart (docs/scheduling.md, "Links measured live"): beside the task
// store, as the blobs are.
func (c *Config) LinksFile() string {
	return filepath.Join(filepath.Dir(filepath.Clean(c.Tasks.Dir)), "links.json")
}
