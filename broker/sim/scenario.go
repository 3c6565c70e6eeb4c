package sim

import (
	"errors"
	"fmt"
	"math"

	"github.com/tether-edge/tether/broker/place"
	"github.com/tether-edge/tether/pkg/cliconf"
)

// Scenario describes a site in full (tether-broker sim --scenario FILE.yaml): its nodes, with
// the true values the simulator runs and the configured ones the scheduler believes, its task
// classes, its arrivals, and the network and failures around them. Fields left out keep the
// defaults of DefaultConfig and of the built-in profiles; the command's flags override the
// file. Units: seconds, Mbit/s, KB (1000 bytes), MB (2^20 bytes), work units (one second of a
// Pi 4 core).
type Scenario struct {
	Name      string     `yaml:"name"`
	Loads     []float64  `yaml:"loads"`
	Staleness []float64  `yaml:"staleness"`
	Horizon   float64    `yaml:"horizon"`
	Warmup    float64    `yaml:"warmup"`
	WAN       *LinkSpec  `yaml:"wan"`
	WANBelief *LinkSpec  `yaml:"declared_wan"` // what the scheduler is told (default: wan)
	Cloud     *CloudSpec `yaml:"cloud"`
	Telemetry *struct {
		Period float64 `yaml:"period"`
		Loss   float64 `yaml:"loss"`
	} `yaml:"telemetry"`
	Events *struct {
		Delay float64  `yaml:"delay"`
		Loss  float64  `yaml:"loss"`
		Retry *float64 `yaml:"retry"`
	} `yaml:"events"`
	Crashes *struct {
		Enabled     *bool    `yaml:"enabled"`
		DetectAfter *float64 `yaml:"detect_after"`
		RebootAfter *float64 `yaml:"reboot_after"`
	} `yaml:"crashes"`
	BackgroundBusyShare *float64     `yaml:"background_busy_share"`
	WorkError           *float64     `yaml:"work_error"`
	Arrivals            *ArrivalSpec `yaml:"arrivals"`
	Nodes               []GroupSpec  `yaml:"nodes"`
	Classes             []ClassSpec  `yaml:"classes"`
}

// LinkSpec is a network path: bandwidth, round trip and packet loss. Loss caps a TCP
// transfer's throughput at 1.22 × 1460 B ÷ (RTT × √loss) (Mathis et al., 1997).
type LinkSpec struct {
	Mbps float64 `yaml:"mbps"`
	RTT  float64 `yaml:"rtt"`
	Loss float64 `yaml:"loss"`
}

// CloudSpec is the elastic cloud pool.
type CloudSpec struct {
	Cores        int      `yaml:"cores"` // 0: no cloud
	Speed        float64  `yaml:"speed"`
	Startup      *float64 `yaml:"startup"`
	Jitter       *float64 `yaml:"jitter"`
	PricePerHour float64  `yaml:"price_per_hour"` // $ per vCPU-hour
}

// GroupSpec is a group of identical edge nodes. Speed is the true speed per core; the
// scheduler is told DeclaredSpeed (default: Speed). Link is the true LAN path to the site;
// DeclaredLink what the scheduler is told (default: Link).
type GroupSpec struct {
	Name          string             `yaml:"name"`    // node IDs are name-000, name-001, …
	Profile       string             `yaml:"profile"` // zero2w, pi4 or pi5: the defaults
	Count         int                `yaml:"count"`
	Cores         int                `yaml:"cores"`
	Speed         float64            `yaml:"speed"`
	DeclaredSpeed float64            `yaml:"declared_speed"`
	MemMB         int64              `yaml:"mem_mb"`
	ClassFactors  map[string]float64 `yaml:"class_factors"` // true speed factor per class name
	Link          *LinkSpec          `yaml:"link"`
	DeclaredLink  *LinkSpec          `yaml:"declared_link"`
	MTBF          *float64           `yaml:"mtbf"` // mean seconds between crashes; 0 never
	Throttle      *struct {
		Every, For, Speed float64
	} `yaml:"throttle"`
	UndervoltShare *float64 `yaml:"undervolt_share"`
}

// ClassSpec is one task class: the devices that submit it and the tasks they submit.
type ClassSpec struct {
	Name           string   `yaml:"name"`
	Share          float64  `yaml:"share"`        // share of devices
	Interarrival   float64  `yaml:"interarrival"` // mean s between a device's tasks while active
	Active         float64  `yaml:"active"`       // mean s a device stays active
	Idle           float64  `yaml:"idle"`         // mean s a device stays idle (0: always active)
	Work           DistSpec `yaml:"work"`         // work units
	InKB           DistSpec `yaml:"in_kb"`
	OutKB          DistSpec `yaml:"out_kb"`
	Deadline       float64  `yaml:"deadline"` // s after submission; 0: none
	MemMB          int64    `yaml:"mem_mb"`
	Priority       int      `yaml:"priority"`
	Checkpointable bool     `yaml:"checkpointable"`
	// Input says where a task's input lives: "device" (the edge node of the submitting
	// device, the default) or "cloud" (object storage next to the cloud pool).
	Input string `yaml:"input"`
}

// DistSpec is a distribution by its mean: exponential (the default), lognormal or pareto with
// a coefficient of variation CV, or fixed.
type DistSpec struct {
	Dist string  `yaml:"dist"`
	Mean float64 `yaml:"mean"`
	CV   float64 `yaml:"cv"`
}

// ArrivalSpec modulates every device's arrival rate over time, keeping its mean: "poisson"
// (constant, the default); "bursty", a two-state Markov chain whose bursts multiply the rate by
// BurstFactor against the calm between them (mean lengths BurstMean and CalmMean); "diurnal",
// a sine of relative Amplitude over Period seconds.
type ArrivalSpec struct {
	Kind        string  `yaml:"kind"`
	BurstFactor float64 `yaml:"burst_factor"`
	BurstMean   float64 `yaml:"burst_mean"`
	CalmMean    float64 `yaml:"calm_mean"`
	Period      float64 `yaml:"period"`
	Amplitude   float64 `yaml:"amplitude"`
}

// Site is a scenario's fleet and workload, as the simulator builds them.
type Site struct {
	Name       string
	Apps       []App
	Mix        []float64 // share of devices per app
	Groups     []Group
	Cloud      *Profile // nil: no cloud
	WANBelief  place.Link
	WANTrue    place.Link
	Arrivals   ArrivalSpec
	InputCloud []bool // per app: input lives in the cloud
}

// Group is Count edge nodes of one Profile; node IDs are Name-NNN.
type Group struct {
	Name  string
	Count int
	Prof  Profile
}

// LoadScenario reads, checks and applies a scenario file to cfg: every problem in the file is
// reported at once.
func LoadScenario(path string, cfg *Config) error {
	var s Scenario
	if err := cliconf.ReadYAML(path, &s); err != nil {
		return err
	}
	if err := s.Apply(cfg); err != nil {
		return fmt.Errorf("scenario %s: %w", path, err)
	}
	return nil
}

// Apply validates s and writes it into cfg, reporting every problem at once.
func (s *Scenario) Apply(cfg *Config) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if s.Name == "" {
		bad("name: required")
	}
	if len(s.Loads) > 0 {
		cfg.Loads = s.Loads
	}
	if len(s.Staleness) > 0 {
		cfg.Staleness = s.Staleness
	}
	if s.Horizon > 0 {
		cfg.Horizon = s.Horizon
	}
	if s.Warmup > 0 {
		cfg.Warmup = s.Warmup
	}
	site := &Site{Name: s.Name, Arrivals: ArrivalSpec{Kind: "poisson"}}
	wan := place.Link{RTT: cfg.WANRTT, Up: cfg.WANMbps * mbps, Down: cfg.WANMbps * mbps}
	if s.WAN != nil {
		errs = append(errs, s.WAN.check("wan")...)
		wan = s.WAN.link()
		cfg.WANMbps, cfg.WANRTT = s.WAN.Mbps, s.WAN.RTT
	}
	site.WANTrue, site.WANBelief = wan, wan
	if s.WANBelief != nil {
		errs = append(errs, s.WANBelief.check("declared_wan")...)
		site.WANBelief = s.WANBelief.link()
	}
	profs := Profiles()
	cloud := profs["cloud"]
	cloud.Cores = cfg.CloudCores
	if c := s.Cloud; c != nil {
		cloud.Cores = c.Cores
		if c.Speed > 0 {
			cloud.Speed = c.Speed
		}
		if c.PricePerHour > 0 {
			cloud.Price = c.PricePerHour / 3600
		}
		if c.Startup != nil {
			cfg.CloudStartup = *c.Startup
		}
		if c.Jitter != nil {
			cfg.CloudJitter = *c.Jitter
		}
		if c.Cores < 0 || c.Speed < 0 || c.PricePerHour < 0 {
			bad("cloud: cores, speed and price_per_hour must be ≥ 0")
		}
	}
	cfg.CloudCores = cloud.Cores
	if cloud.Cores > 0 {
		site.Cloud = &cloud
	}
	if t := s.Telemetry; t != nil {
		if t.Period > 0 {
			cfg.ReportEvery = t.Period
		}
		cfg.ReportLoss = t.Loss
	}
	if e := s.Events; e != nil {
		cfg.EventDelay, cfg.EventLoss = e.Delay, e.Loss
		if e.Retry != nil {
			cfg.EventRetry = *e.Retry
		}
	}
	if c := s.Crashes; c != nil {
		if c.Enabled != nil {
			cfg.Crashes = *c.Enabled
		}
		if c.DetectAfter != nil {
			cfg.DetectAfter = *c.DetectAfter
		}
		if c.RebootAfter != nil {
			cfg.RebootAfter = *c.RebootAfter
		}
	}
	if s.BackgroundBusyShare != nil {
		cfg.BgBusyShare = *s.BackgroundBusyShare
	}
	if s.WorkError != nil {
		cfg.WorkError = *s.WorkError
	}
	if a := s.Arrivals; a != nil {
		site.Arrivals = *a
		if site.Arrivals.Kind == "" {
			site.Arrivals.Kind = "poisson"
		}
		errs = append(errs, site.Arrivals.check()...)
	}
	classIndex := map[string]int{}
	if len(s.Classes) == 0 {
		bad("classes: at least one is required")
	}
	if len(s.Classes) > place.MaxClasses {
		bad("classes: at most %d", place.MaxClasses)
	}
	for k, c := range s.Classes {
		app, inCloud, cerrs := c.app(fmt.Sprintf("classes[%d]", k))
		errs = append(errs, cerrs...)
		if _, dup := classIndex[c.Name]; dup {
			bad("classes[%d].name: %q appears twice", k, c.Name)
		}
		classIndex[c.Name] = k
		site.Apps = append(site.Apps, app)
		site.Mix = append(site.Mix, c.Share)
		site.InputCloud = append(site.InputCloud, inCloud)
	}
	if len(s.Nodes) == 0 {
		bad("nodes: at least one group is required")
	}
	names := map[string]bool{}
	for k, g := range s.Nodes {
		grp, gerrs := g.group(fmt.Sprintf("nodes[%d]", k), profs, classIndex)
		errs = append(errs, gerrs...)
		if names[grp.Name] {
			bad("nodes[%d].name: %q appears twice", k, grp.Name)
		}
		names[grp.Name] = true
		site.Groups = append(site.Groups, grp)
	}
	cfg.Mixes = []string{s.Name}
	cfg.Site = site
	return errors.Join(errs...)
}

func (l *LinkSpec) check(path string) []error {
	if l.Mbps <= 0 || l.RTT < 0 || l.Loss < 0 || l.Loss >= 1 {
		return []error{fmt.Errorf("%s: mbps > 0, rtt ≥ 0 and loss in [0, 1) are required", path)}
	}
	return nil
}

// bandwidth is the link's throughput in bytes per second, capped by its loss.
func (l *LinkSpec) bandwidth() float64 {
	bw := l.Mbps * mbps
	if l.Loss > 0 && l.RTT > 0 {
		bw = min(bw, 1.22*1460/(l.RTT*math.Sqrt(l.Loss)))
	}
	return bw
}

func (l *LinkSpec) link() place.Link {
	bw := l.bandwidth()
	return place.Link{RTT: l.RTT, Up: bw, Down: bw}
}

func (a *ArrivalSpec) check() []error {
	switch a.Kind {
	case "poisson":
	case "bursty":
		if a.BurstFactor < 1 || a.BurstMean <= 0 || a.CalmMean <= 0 {
			return []error{errors.New("arrivals: bursty needs burst_factor ≥ 1, burst_mean > 0 and calm_mean > 0")}
		}
	case "diurnal":
		if a.Period <= 0 || a.Amplitude < 0 || a.Amplitude > 1 {
			return []error{errors.New("arrivals: diurnal needs period > 0 and amplitude in [0, 1]")}
		}
	default:
		return []error{fmt.Errorf("arrivals.kind: %q is not poisson, bursty or diurnal", a.Kind)}
	}
	return nil
}

func (d *DistSpec) check(path string, required bool) []error {
	switch d.Dist {
	case "", "exponential", "fixed":
	case "lognormal", "pareto":
		if d.CV <= 0 {
			return []error{fmt.Errorf("%s.cv: %s needs cv > 0", path, d.Dist)}
		}
	default:
		return []error{fmt.Errorf("%s.dist: %q is not exponential, lognormal, pareto or fixed", path, d.Dist)}
	}
	if d.Mean < 0 || required && d.Mean == 0 {
		return []error{fmt.Errorf("%s.mean: must be > 0", path)}
	}
	return nil
}

// app converts a class to an App, reporting its problems.
func (c *ClassSpec) app(path string) (App, bool, []error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(path+format, a...)) }
	if c.Name == "" {
		bad(".name: required")
	}
	if c.Share <= 0 {
		bad(".share: must be > 0")
	}
	if c.Interarrival <= 0 || c.Active <= 0 || c.Idle < 0 {
		bad(": interarrival > 0, active > 0 and idle ≥ 0 are required")
	}
	if c.Deadline < 0 || c.MemMB < 0 {
		bad(": deadline and mem_mb must be ≥ 0")
	}
	errs = append(errs, c.Work.check(path+".work", true)...)
	errs = append(errs, c.InKB.check(path+".in_kb", false)...)
	errs = append(errs, c.OutKB.check(path+".out_kb", false)...)
	inCloud := false
	switch c.Input {
	case "", "device":
	case "cloud":
		inCloud = true
	default:
		bad(".input: %q is not device or cloud", c.Input)
	}
	const kb = 1000
	a := App{Name: c.Name, Interarrival: c.Interarrival, ActiveMean: c.Active, IdleMean: c.Idle,
		Work: c.Work.Mean, WorkDist: c.Work.Dist, WorkCV: c.Work.CV,
		InBytes: c.InKB.Mean * kb, InDist: c.InKB.Dist, InCV: c.InKB.CV,
		OutBytes: c.OutKB.Mean * kb, OutDist: c.OutKB.Dist, OutCV: c.OutKB.CV,
		Deadline: c.Deadline, MemBytes: c.MemMB * mib, Priority: c.Priority, Checkpointable: c.Checkpointable}
	return a, inCloud, errs
}

// group converts a node group, starting from its profile's values.
func (g *GroupSpec) group(path string, profs map[string]Profile, classes map[string]int) (Group, []error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(path+format, a...)) }
	base := g.Profile
	if base == "" {
		base = "pi4"
	}
	p, ok := profs[base]
	if !ok || p.Tier != place.TierEdge {
		bad(".profile: %q is not zero2w, pi4 or pi5", g.Profile)
		p = profs["pi4"]
	}
	name := g.Name
	if name == "" {
		name = base
	}
	if g.Count < 1 {
		bad(".count: must be ≥ 1")
	}
	if g.Cores < 0 || g.Speed < 0 || g.DeclaredSpeed < 0 || g.MemMB < 0 {
		bad(": cores, speed, declared_speed and mem_mb must be ≥ 0")
	}
	if g.Cores > 0 {
		p.Cores = g.Cores
	}
	if g.MemMB > 0 {
		p.MemBytes = g.MemMB * mib
	}
	// Profile.Speed is what the scheduler is told; the true speed is Speed × ClassFactor.
	truth := p.Speed
	if g.Speed > 0 {
		truth = g.Speed
	}
	declared := truth
	if g.DeclaredSpeed > 0 {
		declared = g.DeclaredSpeed
	} else if g.Speed == 0 {
		declared = p.Speed
	}
	// The profile's class factors apply to the classes named like the built-in apps (ar,
	// health, heavy, info); any other class runs at the node's speed unless class_factors
	// says otherwise.
	builtin := map[string]int{}
	for k, a := range Apps() {
		builtin[a.Name] = k
	}
	var factors [place.MaxClasses]float64
	for c := range factors {
		factors[c] = 1
	}
	for cls, c := range classes {
		if b, ok := builtin[cls]; ok {
			factors[c] = p.ClassFactor[b]
		}
	}
	for c := range factors {
		factors[c] *= truth / declared
	}
	p.ClassFactor = factors
	p.Speed = declared
	for cls, f := range g.ClassFactors {
		c, ok := classes[cls]
		if !ok || f <= 0 {
			bad(".class_factors.%s: no such class, or factor ≤ 0", cls)
			continue
		}
		p.ClassFactor[c] *= f
	}
	if g.Link != nil {
		errs = append(errs, g.Link.check(path+".link")...)
		p.RTT, p.Bandwidth = g.Link.RTT, g.Link.bandwidth()
	}
	p.DeclaredRTT, p.DeclaredBandwidth = p.RTT, p.Bandwidth
	if g.DeclaredLink != nil {
		errs = append(errs, g.DeclaredLink.check(path+".declared_link")...)
		p.DeclaredRTT, p.DeclaredBandwidth = g.DeclaredLink.RTT, g.DeclaredLink.bandwidth()
	}
	if g.MTBF != nil {
		if *g.MTBF < 0 {
			bad(".mtbf: must be ≥ 0")
		}
		p.MTBF = *g.MTBF
	}
	if t := g.Throttle; t != nil {
		if t.Every < 0 || t.For < 0 || t.Speed <= 0 || t.Speed > 1 {
			bad(".throttle: every, for ≥ 0 and speed in (0, 1] are required")
		}
		p.ThrottleEvery, p.ThrottleFor, p.ThrottleSpeed = t.Every, t.For, t.Speed
	}
	if u := g.UndervoltShare; u != nil {
		if *u < 0 || *u > 1 {
			bad(".undervolt_share: must be in [0, 1]")
		}
		p.UndervoltProb = *u
	}
	return Group{Name: name, Count: g.Count, Prof: p}, errs
}
