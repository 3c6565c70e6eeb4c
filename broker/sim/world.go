package sim

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/tether-edge/tether/broker/place"
)

// cell is one point of the evaluation grid: a single simulated run.
type cell struct {
	Mix    string
	Load   float64
	Stale  float64
	Policy string
	Seed   uint64
}

// job is one task from submission to result, across attempts.
type job struct {
	task    place.Task // task.ID is the job's index + 1
	node    int        // current node, or -1
	attempt int32      // bumped on every resubmission; stale events carry an older one
	state   jobState

	left  float64 // work left while running
	rate  float64 // current true rate while running
	since float64 // when left and rate were last updated
	gen   int32   // finish-event generation, bumped on every rate change
	scale float64 // true work ÷ declared work (WorkError)
	speed float64 // this run's speed factor on its node (CloudJitter), 1 at the edge
	runs  int32   // bumped at every start; task events of an older run are dropped
	began float64 // when the current run started

	done     float64 // result delivered, or 0
	best     float64 // the clairvoyant bound on its completion time (bestTime), -1 if none
	cloudB   float64 // bytes moved over the WAN for this job
	attempts int
	measured bool

	// Under Config.HoldPrefetch: 1 + the node the held task's input was hinted to (0: none),
	// when the input is there, and the node's crash epoch then.
	hint       int
	fetched    float64
	fetchEpoch int32
}

type jobState uint8

const (
	jsWaiting  jobState = iota // in the scheduler (central queue, held) or being resubmitted
	jsTransfer                 // input on its way to the node
	jsQueued                   // at the node, waiting for a core
	jsRunning
	jsResult // result on its way back
	jsDone
	jsRejected
	jsLost // on a crashed node, not yet detected
)

// simNode is the truth about one node.
type simNode struct {
	prof      Profile
	up        bool
	epoch     int32 // bumped at each crash; input events of an older epoch are dropped
	bg        float64
	throttled bool
	undervolt bool
	pending   []*job // input in flight
	queue     []*job // waiting for a core, FIFO
	running   []*job
	orphans   []*job  // preempted while crashed and undetected: resubmitted on detection
	busy      float64 // core-seconds spent on tasks
	busySince float64
	crashes   int
}

// source is one device generating tasks of one application.
type source struct {
	app    int
	node   int // edge node holding the device's data
	active bool
	gen    int32
}

// world is one run's whole state. It is owned by one goroutine.
type world struct {
	cfg  *Config
	cell cell
	apps []App
	site *Site
	now  float64
	seq  uint64
	ev   evHeap

	wl, dyn *rand.Rand // workload and node-dynamics streams, independent of the policy
	net     *rand.Rand // message loss and cloud jitter, a stream of their own

	nodes   []simNode
	cloud   int // index of the cloud pool, or -1
	sources []source
	link    struct{ upFree, downFree float64 }

	fleet   *place.View // the scheduler's view: declared nodes and links
	real    *place.View // the true nodes and links, for the simulator's own transfers
	policy  place.Policy
	jobs    []*job
	live    int // jobs submitted and not finished or rejected
	probes  []probe
	actions []place.Action
	lost    []uint64

	// The tasks the scheduler holds pending under "tether" (hold.go), in the engine's order;
	// back: victims and re-queued tasks, held at the next pass.
	held, back []*job
	heldDue    int     // held tasks with a deadline
	passDue    bool    // something changed that may let a held task be placed
	tickAt     float64 // when the next evTick is due; ≤ now: none
	hints      []int   // per node, held tasks hinted there (Config.HoldPrefetch)
	scratch    []float64

	preempted, events int
	told              int       // task events on their way to the scheduler
	peak, calm        float64   // arrival-rate multipliers: the peak and a bursty site's calm
	burst             bool      // a bursty site is in a burst
	switches          []float64 // when a bursty site's bursts began and ended
	diverged          bool      // stopped early: the tasks in the system passed the divergence bound
	slots             int       // cores of the whole fleet
	divergeAt         int       // tasks in the system that stop the run as diverged
}

type probe struct {
	at float64
	n  int
}

// stream derives an independent PCG stream for one purpose of one run.
func stream(seed uint64, purpose uint64, c cell) *rand.Rand {
	h := seed*0x9E3779B97F4A7C15 ^ purpose
	for _, b := range []byte(fmt.Sprintf("%s|%g|%g", c.Mix, c.Load, c.Stale)) {
		h = (h ^ uint64(b)) * 0x100000001B3
	}
	return rand.New(rand.NewPCG(h, purpose))
}

// newWorld builds the fleet, the devices and the policy for one cell.
func newWorld(cfg *Config, c cell) (*world, error) {
	site, err := cfg.site(c.Mix)
	if err != nil {
		return nil, err
	}
	w := &world{cfg: cfg, cell: c, apps: site.Apps, site: site, cloud: -1,
		wl: stream(c.Seed, 1, c), dyn: stream(c.Seed, 2, c), net: stream(c.Seed, 4, c)}
	w.fleet = place.NewView(site.WANBelief, place.ViewOptions{})
	w.real = place.NewView(site.WANTrue, place.ViewOptions{})
	w.addNodes()
	w.divergeAt = divergeFactor * max(w.slots, 1)
	w.setupArrivals()
	if err := w.addSources(site.Mix); err != nil {
		return nil, err
	}
	env := place.Env{Rand: stream(c.Seed, 3, c), Truth: truth{w}}
	env.Tether.CloudBudget = cfg.CloudBudget / 3600
	if w.policy, err = place.NewRegistry().New(c.Policy, env); err != nil {
		return nil, err
	}
	if c := w.policy.Central; c != nil {
		for i := range w.nodes {
			c.NodeUp(w.fleet, i, 0, nil) // offers every slot; nothing is queued yet
		}
	}
	w.push(event{at: 0, kind: evProbe})
	return w, nil
}

// site returns the fleet and workload of the named mix: the scenario's, or a built-in mix
// on the fleet the flags describe.
func (c *Config) site(mix string) (*Site, error) {
	if c.Site != nil && mix == c.Site.Name {
		return c.Site, nil
	}
	m, err := lookupMix(mix)
	if err != nil {
		return nil, err
	}
	apps := Apps()
	profs := Profiles()
	n := c.EdgeNodes
	zeros := int(math.Round(float64(n) * c.ZeroShare))
	pi5s := int(math.Round(float64(n) * c.Pi5Share))
	mbit := c.WANMbps * mbps
	wan := place.Link{RTT: c.WANRTT, Up: mbit, Down: mbit}
	s := &Site{Name: mix, Apps: apps[:], Mix: m[:], WANBelief: wan, WANTrue: wan,
		Arrivals: ArrivalSpec{Kind: "poisson"}, InputCloud: make([]bool, len(apps)),
		Groups: []Group{{"zero2w", zeros, profs["zero2w"]}, {"pi5", pi5s, profs["pi5"]},
			{"pi4", n - zeros - pi5s, profs["pi4"]}}}
	if c.CloudCores > 0 {
		p := profs["cloud"]
		p.Cores = c.CloudCores
		s.Cloud = &p
	}
	return s, nil
}

// addNodes creates the edge fleet, its groups in a seeded shuffled order, then the cloud pool.
func (w *world) addNodes() {
	var kinds []int
	for g, grp := range w.site.Groups {
		for range grp.Count {
			kinds = append(kinds, g)
		}
	}
	w.dyn.Shuffle(len(kinds), func(a, b int) { kinds[a], kinds[b] = kinds[b], kinds[a] })
	for i, g := range kinds {
		grp := &w.site.Groups[g]
		w.addNode(grp.Prof, fmt.Sprintf("%s-%03d", grp.Name, i))
	}
	if p := w.site.Cloud; p != nil {
		w.cloud = w.addNode(*p, "cloud")
	}
}

func (w *world) addNode(p Profile, id string) int {
	decl := place.NodeSpec{
		ID: id, Tier: p.Tier, Cores: p.Cores, Speed: p.Speed, MemBytes: p.MemBytes,
		RTT: p.RTT, Bandwidth: p.Bandwidth, PricePerCPUSecond: p.Price,
	}
	w.real.AddNode(decl)
	if p.DeclaredBandwidth > 0 {
		decl.RTT, decl.Bandwidth = p.DeclaredRTT, p.DeclaredBandwidth
	}
	i := w.fleet.AddNode(decl)
	n := simNode{prof: p, up: true}
	w.slots += p.Cores
	phase := w.dyn.Float64() * w.cfg.ReportEvery
	w.push(event{at: phase, kind: evSample, id: int32(i)})
	if p.Tier == place.TierEdge {
		n.undervolt = w.dyn.Float64() < p.UndervoltProb
		w.push(event{at: 0, kind: evBg, id: int32(i)})
		if p.ThrottleEvery > 0 {
			w.push(event{at: w.exp(w.dyn, p.ThrottleEvery), kind: evThrottle, id: int32(i)})
		}
	}
	w.nodes = append(w.nodes, n)
	w.scheduleCrash(i)
	return i
}

// edgeCapacity is the edge fleet's declared capacity net of mean background load: the
// denominator of the offered load.
func (w *world) edgeCapacity() float64 {
	meanBg := w.cfg.BgBusyShare*bgBusyMean + (1-w.cfg.BgBusyShare)*bgQuietMean
	c := 0.0
	for _, n := range w.nodes {
		if n.prof.Tier == place.TierEdge {
			c += float64(n.prof.Cores) * n.prof.Speed * (1 - meanBg)
		}
	}
	return c
}

// addSources creates enough devices for the cell's offered load, apportioned by the mix.
func (w *world) addSources(mix []float64) error {
	total, perDev := 0.0, 0.0
	for a, share := range mix {
		total += share
		perDev += share * w.apps[a].workRate()
	}
	if total <= 0 {
		return fmt.Errorf("mix %q is empty", w.cell.Mix)
	}
	perDev /= total
	n := int(math.Ceil(w.cell.Load * w.edgeCapacity() / perDev))
	edge := w.fleet.Edge()
	for a, share := range mix {
		for k := 0; k < int(math.Round(float64(n)*share/total)); k++ {
			s := source{app: a, node: edge[w.wl.IntN(len(edge))]}
			app := w.apps[a]
			duty := app.ActiveMean / (app.ActiveMean + app.IdleMean)
			s.active = w.wl.Float64() >= duty // toggled at once below
			w.sources = append(w.sources, s)
			w.push(event{at: 0, kind: evToggle, id: int32(len(w.sources) - 1)})
		}
	}
	return nil
}

func (w *world) push(e event) {
	w.seq++
	e.seq = w.seq
	w.ev.push(e)
}

// exp draws an exponential variate with the given mean.
func (w *world) exp(r *rand.Rand, mean float64) float64 { return r.ExpFloat64() * mean }
