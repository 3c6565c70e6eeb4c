package sim

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/tether-edge/tether/broker/place"
)

// Config is one evaluation: every combination of Mixes × Loads × Staleness × Policies is run
// with Seeds seeds. DefaultConfig fills every field; RegisterFlags lets a command override them.
type Config struct {
	Policies  []string  // placement policies by place.Registry name
	Mixes     []string  // workload mixes by name (Mixes)
	Loads     []float64 // offered work ÷ effective edge capacity
	Staleness []float64 // seconds: age of node telemetry when the scheduler reads it
	Seeds     int       // seeds per cell: Seed, Seed+1, …
	Seed      uint64

	Horizon float64 // s of virtual time during which tasks arrive
	Warmup  float64 // s at the start whose tasks are not measured

	// Fleet: EdgeNodes edge nodes, ZeroShare of them Pi Zero 2 W, Pi5Share Pi 5, the rest
	// Pi 4; plus one elastic cloud pool of CloudCores vCPUs.
	EdgeNodes           int
	ZeroShare, Pi5Share float64
	CloudCores          int

	WANRTT  float64 // s, site ↔ cloud round trip (issue range 0.02–0.3)
	WANMbps float64 // Mbit/s, shared both ways (issue range 3–50)

	ReportEvery float64 // s between telemetry samples of one node
	DetectAfter float64 // s from a crash to the scheduler seeing the last will (1.5 × keepalive)
	RebootAfter float64 // s a crashed node stays down
	Crashes     bool    // whether nodes crash at all
	BgBusyShare float64 // share of time a node runs heavy foreign work (background load)

	// Task events (a start, a finish) reach the scheduler EventDelay seconds after they
	// happen; each delivery is lost with probability EventLoss and sent again EventRetry
	// seconds later (MQTT QoS 1 resends on reconnect), so nothing is dropped, only late.
	// A telemetry report (QoS 0) is lost with probability ReportLoss and not sent again.
	EventDelay, EventLoss, EventRetry, ReportLoss float64

	// The cloud is not ideal: a task there starts CloudStartup seconds after its input
	// arrived (a container's start) and runs at the pool's speed times a lognormal factor
	// of median 1 and log-standard deviation CloudJitter (noisy neighbours).
	CloudStartup, CloudJitter float64

	// WorkError is the log-standard deviation of a task's true work around the work it
	// declares (lognormal, median 1): the scheduler sees the declared work only.
	WorkError float64
	// WorkBias multiplies the work every task declares, its true work unchanged: a
	// submitter whose estimates are systematically off (×0.3, ×3). The scheduler learns
	// per node and class from declared work over measured time, so a bias is learned away;
	// 0 or 1 is none.
	WorkBias float64

	CloudBudget float64 // Tether's cloud budget in $ per hour; 0 is unlimited
	// Preempt lets the Tether policy take a running checkpointable task back for a deadline
	// task that would otherwise miss (place.TetherVictim), as the live scheduler's
	// placement.preempt does; no other policy's behaviour depends on it.
	Preempt bool
	// NodeQueue is how many tasks beyond its slots Tether may commit to a node, to wait in its
	// queue (place.PickFree), as the live scheduler's placement.node_queue does; 0 places on a
	// free slot only. No other policy's behaviour depends on it.
	NodeQueue int
	// HoldPrefetch, HoldCloudPick and HoldWait change how the held Tether (NodeQueue 0) uses
	// its slots, in the simulator only: the live scheduler does none of them yet
	// (hold_ahead.go, docs/scheduling.md "Tether's node queue"). HoldPrefetch hints held
	// tasks' inputs to the edge node each is expected to take, so its slot does not idle
	// while the input travels; HoldCloudPick gives a free cloud slot to the held task with
	// the most work per WAN byte rather than to the first in order; HoldWait keeps a deadline
	// task from a free edge slot where it would be late when a busy one would get it done in
	// time. Off, tether is the live algorithm.
	HoldPrefetch, HoldCloudPick, HoldWait bool

	TaskCSV  bool // also write one CSV of tasks per run
	Plots    bool // write PNG plots
	Parallel int  // runs simulated at once (goroutines); results do not depend on it

	// Site is a scenario's fleet and workload (LoadScenario); nil builds them from the fields
	// above and the built-in mixes.
	Site *Site
}

// DefaultConfig returns the evaluation documented in docs/scheduling.md.
func DefaultConfig() Config {
	return Config{
		Policies: []string{"rr", "random", "wrandom", "least-loaded", "least-work", "p2c",
			"fifo", "sjf", "srtf", "edf", "priority", "tether", "oracle"},
		Mixes:     []string{"ecs", "sensing", "compute"},
		Loads:     []float64{0.5, 0.7, 0.9},
		Staleness: []float64{0.5, 2, 5},
		Seeds:     5,
		Seed:      1,
		Horizon:   300, Warmup: 30,
		EdgeNodes: 40, ZeroShare: 0.3, Pi5Share: 0.2, CloudCores: 32,
		WANRTT: 0.06, WANMbps: 20,
		ReportEvery: 1, DetectAfter: 15, RebootAfter: 60, Crashes: true, BgBusyShare: 0.15,
		EventDelay: 0.05, EventRetry: 5, CloudStartup: 0.3, CloudJitter: 0.2, WorkError: 0.3,
		Preempt: true, NodeQueue: place.DefaultNodeQueue, Plots: true, Parallel: 1,
	}
}

// Validate reports the first setting a user must fix.
func (c *Config) Validate() error {
	reg := place.NewRegistry()
	known := map[string]bool{}
	for _, n := range reg.Names() {
		known[n] = true
	}
	var errs []error
	if len(c.Policies) == 0 {
		errs = append(errs, errors.New("no policies: set -policies"))
	}
	for _, p := range c.Policies {
		if !known[p] {
			errs = append(errs, fmt.Errorf("unknown policy %q: choose from %v", p, reg.Names()))
		}
	}
	for _, m := range c.Mixes {
		if c.Site != nil && m == c.Site.Name {
			continue
		}
		if _, err := lookupMix(m); err != nil {
			errs = append(errs, err)
		}
	}
	for _, l := range c.Loads {
		if l <= 0 || l >= 2 {
			errs = append(errs, fmt.Errorf("load %v out of range (0, 2)", l))
		}
	}
	for _, s := range c.Staleness {
		if s < 0 {
			errs = append(errs, fmt.Errorf("staleness %v is negative", s))
		}
	}
	switch {
	case len(c.Mixes) == 0 || len(c.Loads) == 0 || len(c.Staleness) == 0:
		errs = append(errs, errors.New("-mixes, -loads and -staleness each need at least one value"))
	case c.Seeds < 1:
		errs = append(errs, errors.New("-seeds must be at least 1"))
	case c.Horizon <= c.Warmup || c.Warmup < 0:
		errs = append(errs, errors.New("-horizon must exceed -warmup ≥ 0"))
	case c.EdgeNodes < 1:
		errs = append(errs, errors.New("-edge-nodes must be at least 1"))
	case c.ZeroShare < 0 || c.Pi5Share < 0 || c.ZeroShare+c.Pi5Share > 1:
		errs = append(errs, errors.New("-zero-share and -pi5-share must be ≥ 0 and sum to ≤ 1"))
	case c.CloudCores < 0 || c.WANMbps <= 0 || c.WANRTT < 0:
		errs = append(errs, errors.New("-cloud-cores ≥ 0, -wan-mbps > 0 and -wan-rtt ≥ 0 are required"))
	case c.ReportEvery <= 0 || c.DetectAfter < 0 || c.RebootAfter < 0:
		errs = append(errs, errors.New("-report-every > 0, -detect-after ≥ 0, -reboot-after ≥ 0 are required"))
	case c.BgBusyShare < 0 || c.BgBusyShare > 1:
		errs = append(errs, errors.New("-bg-busy-share must be in [0, 1]"))
	}
	if c.EventDelay < 0 || c.EventRetry <= 0 || c.EventLoss < 0 || c.EventLoss >= 1 || c.ReportLoss < 0 || c.ReportLoss >= 1 {
		errs = append(errs, errors.New("-event-delay ≥ 0, -event-retry > 0, -event-loss and -report-loss in [0, 1) are required"))
	}
	if c.NodeQueue < 0 {
		errs = append(errs, errors.New("-node-queue must be ≥ 0"))
	}
	if (c.HoldPrefetch || c.HoldCloudPick || c.HoldWait) && c.NodeQueue != 0 {
		errs = append(errs, errors.New("-hold-prefetch, -hold-cloud-pick and -hold-wait change the held Tether: use them with -node-queue 0"))
	}
	if c.HoldCloudPick && c.CloudBudget > 0 {
		errs = append(errs, errors.New("-hold-cloud-pick does not refund the cloud budget for the cloud choices it declines: use it without -cloud-budget"))
	}
	if c.CloudStartup < 0 || c.CloudJitter < 0 || c.WorkError < 0 || c.WorkBias < 0 {
		errs = append(errs, errors.New("-cloud-startup, -cloud-jitter, -work-error and -work-bias must be ≥ 0"))
	}
	return errors.Join(errs...)
}

// RegisterFlags binds every field to a flag on fs, with the current values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var((*stringList)(&c.Policies), "policies", "comma-separated placement policies")
	fs.Var((*stringList)(&c.Mixes), "mixes", "comma-separated workload mixes ("+strings.Join(mixNames(), ", ")+")")
	fs.Var((*floatList)(&c.Loads), "loads", "comma-separated offered loads (fraction of edge capacity)")
	fs.Var((*floatList)(&c.Staleness), "staleness", "comma-separated telemetry ages in seconds")
	fs.IntVar(&c.Seeds, "seeds", c.Seeds, "seeds per configuration")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "first seed")
	fs.Float64Var(&c.Horizon, "horizon", c.Horizon, "seconds of virtual time with arrivals")
	fs.Float64Var(&c.Warmup, "warmup", c.Warmup, "seconds at the start not measured")
	fs.IntVar(&c.EdgeNodes, "edge-nodes", c.EdgeNodes, "number of edge nodes")
	fs.Float64Var(&c.ZeroShare, "zero-share", c.ZeroShare, "share of edge nodes that are Pi Zero 2 W")
	fs.Float64Var(&c.Pi5Share, "pi5-share", c.Pi5Share, "share of edge nodes that are Pi 5")
	fs.IntVar(&c.CloudCores, "cloud-cores", c.CloudCores, "vCPUs of the elastic cloud pool (0: no cloud)")
	fs.Float64Var(&c.WANRTT, "wan-rtt", c.WANRTT, "site to cloud round trip, seconds")
	fs.Float64Var(&c.WANMbps, "wan-mbps", c.WANMbps, "site to cloud bandwidth, Mbit/s, shared")
	fs.Float64Var(&c.ReportEvery, "report-every", c.ReportEvery, "seconds between node telemetry samples")
	fs.Float64Var(&c.DetectAfter, "detect-after", c.DetectAfter, "seconds from a crash to its detection")
	fs.Float64Var(&c.RebootAfter, "reboot-after", c.RebootAfter, "seconds a crashed node stays down")
	fs.BoolVar(&c.Crashes, "crashes", c.Crashes, "simulate node crashes")
	fs.Float64Var(&c.BgBusyShare, "bg-busy-share", c.BgBusyShare, "share of time a node runs heavy background work")
	fs.Float64Var(&c.EventDelay, "event-delay", c.EventDelay, "seconds for a task's start or finish to reach the scheduler")
	fs.Float64Var(&c.EventLoss, "event-loss", c.EventLoss, "probability a task event's delivery is lost and resent")
	fs.Float64Var(&c.EventRetry, "event-retry", c.EventRetry, "seconds before a lost task event is resent")
	fs.Float64Var(&c.ReportLoss, "report-loss", c.ReportLoss, "probability a telemetry report is lost")
	fs.Float64Var(&c.CloudStartup, "cloud-startup", c.CloudStartup, "seconds a cloud task takes to start")
	fs.Float64Var(&c.CloudJitter, "cloud-jitter", c.CloudJitter, "log-standard deviation of a cloud task's speed")
	fs.Float64Var(&c.WorkError, "work-error", c.WorkError, "log-standard deviation of true work around declared work")
	fs.Float64Var(&c.WorkBias, "work-bias", c.WorkBias, "every task declares this times its true work (0 or 1: no bias)")
	fs.Float64Var(&c.CloudBudget, "cloud-budget", c.CloudBudget, "Tether cloud budget, $/hour (0: unlimited)")
	fs.BoolVar(&c.Preempt, "preempt", c.Preempt, "Tether preempts a checkpointable task for a deadline task that would miss")
	fs.IntVar(&c.NodeQueue, "node-queue", c.NodeQueue, "tasks beyond its slots Tether may commit to a node (0: a free slot only)")
	fs.BoolVar(&c.HoldPrefetch, "hold-prefetch", c.HoldPrefetch, "simulator only, not live: held Tether hints held tasks' inputs to the node expected to take each")
	fs.BoolVar(&c.HoldCloudPick, "hold-cloud-pick", c.HoldCloudPick, "simulator only, not live: held Tether gives a free cloud slot to the held task with the most work per WAN byte")
	fs.BoolVar(&c.HoldWait, "hold-wait", c.HoldWait, "simulator only, not live: held Tether waits for a busy edge node that meets a deadline a free slot would miss")
	fs.BoolVar(&c.TaskCSV, "task-csv", c.TaskCSV, "write a per-task CSV for every run")
	fs.BoolVar(&c.Plots, "plots", c.Plots, "write PNG plots")
	fs.IntVar(&c.Parallel, "parallel", c.Parallel, "runs to simulate at once")
}

// stringList is a comma-separated flag value.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error {
	*l = nil
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*l = append(*l, f)
		}
	}
	return nil
}

// floatList is a comma-separated flag value of numbers.
type floatList []float64

func (l *floatList) String() string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strings.Join(s, ",")
}

func (l *floatList) Set(s string) error {
	*l = nil
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", f)
		}
		*l = append(*l, v)
	}
	return nil
}
