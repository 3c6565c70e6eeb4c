package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/tether-edge/tether/broker/place"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/task"
)

// Placer places the engine's tasks with broker/place's policies. New makes one (inside a
// Queued for a queue order).
type Placer struct {
	opt   Options
	log   *slog.Logger
	epoch time.Time // time zero of the fleet's clock

	fleet    *place.View
	pick     *place.PerTask
	def      string          // the default policy's canonical name
	queue    bool            // def is a queue order: place only on a free slot (Queued)
	valid    map[string]bool // canonical policy names
	validMsg string          // the names, for refusals

	nodes    map[string]int      // node id → fleet index
	decl     []place.NodeSpec    // by fleet index: as declared last
	rep      []place.Report      // by fleet index: as delivered last
	up       int                 // fleet nodes up: online with facts
	classes  map[string]int      // task class → place class
	attempts map[string]*attempt // task → its attempt that loads a node
	orphans  map[string][]string // node not in the fleet yet → tasks found assigned there at start
	nextID   uint64

	// The decision in progress, for allowed; cleared when Place returns.
	cur   []*taskengine.Candidate
	req   *taskengine.Request
	avoid string
	// queued: the decision is Tether's, which may commit the task to a busy node's queue
	// (taskengine.FitsQueued).
	queued bool
	allow  func(int) bool // allowed, as a func made once
	tk     place.Task
	// The last decision, for the AttemptAssigned that follows it, and its
	// estimated completion (seconds on the fleet's clock; Estimate).
	last     place.Task
	lastTask string
	lastEst  float64
	srtf     srtfState // srtf's preemption in progress
}

// attempt is the record of an attempt that loads a node.
type attempt struct {
	n     uint32
	node  string
	index int // fleet index of node; -1 while the node is not in the fleet
	t     place.Task
	// started is when it was reported running, seconds; -1: not yet.
	started float64
	perUnit float64 // work of one unit of a builtin (perUnit); 0: another kind
}

// errNoPreemptSRTF refuses srtf with preemption off: preempting is part of its algorithm.
var errNoPreemptSRTF = errors.New("placement policy srtf preempts by definition, and preemption is off (placement.preempt: false): turn it on, or use sjf, the same order without preemption")

// unknownWork is the work the engine assumes for a task whose spec gives none.
const unknownWork = 1.0

var (
	_ taskengine.Placer        = (*Placer)(nil)
	_ taskengine.Observer      = (*Placer)(nil)
	_ taskengine.PolicyChecker = (*Placer)(nil)
	_ taskengine.Estimator     = (*Placer)(nil)
)

// New returns the engine's Placer for o.Policy: a *Placer that dispatches with it by default
// and, for tasks that name one, with any other dispatch policy; or, for a queue order, a
// *Queued. It fails on a policy name it does not know.
func New(o Options) (taskengine.Placer, error) {
	p, err := newPlacer(o)
	if err != nil {
		return nil, err
	}
	if p.queue {
		return &Queued{p}, nil
	}
	return p, nil
}

func newPlacer(o Options) (*Placer, error) {
	o.ensureDefaults()
	reg := place.NewRegistry()
	def, err := canonical(reg, o.Policy)
	if err != nil {
		return nil, err
	}
	if def == "srtf" && o.NoPreempt {
		return nil, errNoPreemptSRTF
	}
	queue := slices.Contains(queueOrders, def)
	names := dispatchNames(reg)
	dispatch := def
	if queue {
		dispatch = "tether" // chooses the node among those with a free slot
	}
	env := place.Env{Rand: o.Rand, Tether: place.TetherOptions{HealthPenalty: o.Tether.HealthPenalty}}
	pick, err := place.NewPerTask(reg, env, dispatch, names...)
	if err != nil {
		return nil, err
	}
	fleet := place.NewView(wanLink(o.WAN), place.ViewOptions{})
	p := &Placer{
		opt: o, log: o.Logger.With("component", "placement"), epoch: o.Now(),
		fleet: fleet, pick: pick, def: def, queue: queue,
		valid: map[string]bool{}, validMsg: describe(names),
		nodes: map[string]int{}, classes: map[string]int{}, attempts: map[string]*attempt{}, orphans: map[string][]string{},
	}
	for _, n := range names {
		p.valid[n] = true
	}
	p.allow = p.allowed
	p.refreshWAN() // estimates restored from before a restart
	p.log.Info("placement policy", "policy", def, "central_queue", queue)
	return p, nil
}

// CheckPolicy implements taskengine.PolicyChecker: a task may name a dispatch policy, or, on a
// scheduler that keeps a central queue, only that queue.
func (p *Placer) CheckPolicy(name string) error {
	switch {
	case p.queue && name == p.def:
		return nil
	case p.queue:
		return fmt.Errorf("spec.policy %q: this scheduler keeps a central %s queue; a task may name only %s", name, p.def, p.def)
	case p.valid[name] || p.valid[aliases[name]]:
		return nil
	case slices.Contains(queueOrders, name):
		return fmt.Errorf("spec.policy %q: a central queue is the scheduler's choice (placement.policy), not a task's; a task may name %s",
			name, p.validMsg)
	}
	return fmt.Errorf("spec.policy %q: this scheduler places with %s", name, p.validMsg)
}

// now is the fleet's clock: seconds since the Placer was made.
func (p *Placer) now() float64 { return p.secs(p.opt.Now()) }

func (p *Placer) secs(t time.Time) float64 { return t.Sub(p.epoch).Seconds() }

// Place implements taskengine.Placer. O(1) candidate evaluations for Tether, each a binary
// search of nodes for the engine's constraints; O(nodes) for the scanning policies, and for
// Tether when its candidates held no node the task fits.
func (p *Placer) Place(r *taskengine.Request, nodes []*taskengine.Candidate) *taskengine.Candidate {
	if len(nodes) != p.up {
		p.sync(nodes) // the engine's view and the fleet's differ: a Placer used without its Observer calls
	}
	y := p.srtf
	p.srtf = srtfState{}
	if p.queue && !p.fleet.HasFreeSlot() {
		p.srtf.declined = r.Task
		return nil // the task waits in the queue
	}
	now := p.now()
	p.lastEst = 0
	p.task(&p.tk, r)
	p.cur, p.req, p.avoid = nodes, r, r.Avoid
	p.queued = !p.queue && p.policyName(&p.tk) == "tether"
	defer func() { p.cur, p.req = nil, nil }()
	d := p.decide(y, now)
	if d.Node < 0 && p.avoid != "" && p.srtf.yieldTask == "" {
		p.avoid = "" // the node to avoid, when no other fits
		d = p.decide(y, now)
	}
	if d.Node < 0 {
		p.srtf.declined = r.Task
		return nil
	}
	c := p.candidate(d.Node)
	if c == nil {
		return nil // cannot happen: allowed found it
	}
	p.last, p.lastTask = p.tk, r.Task
	switch {
	case p.tk.Deadline > 0:
		// A deadline is judged on about the 90th percentile of the run time the node has
		// shown for the task's class, not the mean the policy chose by.
		d.Est = place.Completion(p.fleet, place.Pessimistic{View: p.fleet}, d.Node, &p.tk, now)
	case d.Est <= 0:
		// Every policy's choice is estimated by the same cost model (Tether's own
		// estimate comes with its decision).
		d.Est = place.Completion(p.fleet, p.fleet, d.Node, &p.tk, now)
	}
	p.lastEst = d.Est
	if p.log.Enabled(context.Background(), slog.LevelDebug) {
		args := []any{"task", r.Task, "node", c.ID, "tier", c.Tier, "policy", p.policyName(&p.tk)}
		if d.Est > 0 {
			args = append(args, "est_done_s", round(d.Est-now))
		}
		if p.tk.Deadline > 0 {
			args = append(args, "deadline_s", round(p.tk.Deadline-now))
		}
		p.log.Debug("placement", args...)
	}
	return c
}

// Estimate implements taskengine.Estimator: the completion the last placement expected.
func (p *Placer) Estimate() (time.Time, bool) {
	if p.lastEst <= 0 {
		return time.Time{}, false
	}
	return p.epoch.Add(time.Duration(p.lastEst * float64(time.Second))), true
}

// decide asks the task's policy, then, for Tether, every node (place.PickAll). Every node it
// may choose is one allowed finds room on by the engine's record — a free slot (taskengine.Fits;
// the engine's Limits give every node at least one slot), or, for Tether, room in the node's
// queue too (taskengine.FitsQueued, the engine's NodeQueue) — so a task none takes stays pending:
// the simulator's tether decides with place.PickFree, the same rule on the fleet's record,
// which mirrors the engine's. A queue's node is the one
// place.SlotRule chooses, the rule the simulator's queues bind by: a free slot, or none when
// waiting for a busy edge node beats the free cloud slot (srtf: srtfDecide, with y the state
// the last Place and Victim left).
func (p *Placer) decide(y srtfState, now float64) place.Decision {
	if p.def == "srtf" {
		return p.srtfDecide(y, now)
	}
	if p.queue {
		i := place.SlotRule(p.fleet, p.pick, &p.tk, p.req.Ahead, now)
		if i >= 0 {
			if c := p.candidate(i); c == nil || !taskengine.Fits(p.req, c) {
				i = -1 // the engine's record has no slot there: cannot happen while it and the fleet agree
			}
		}
		return place.Decision{Node: i}
	}
	if p.policyName(&p.tk) == "tether" {
		return place.PickAll(p.fleet, p.pick, &p.tk, now)
	}
	return p.pick.Pick(p.fleet, &p.tk, now)
}

// policyName is the policy that decides for t: its own when this scheduler runs it, else the
// default (a queue's node is chosen by tether).
func (p *Placer) policyName(t *place.Task) string {
	switch {
	case p.valid[t.Policy]:
		return t.Policy
	case p.queue:
		return "tether"
	}
	return p.def
}

func round(s float64) float64 { return float64(int64(s*1000)) / 1000 }

// allowed is every task's Allow: node i is one of the engine's candidates, fits the request
// by the engine's rules, and is not the node to avoid. For a queue, whose rule looks at busy
// nodes too and adds the free slot itself (place.SlotRule), the node need only fit once a
// slot frees; for Tether, it may fit in the node's queue (taskengine.FitsQueued).
func (p *Placer) allowed(i int) bool {
	c := p.candidate(i)
	if c == nil || c.ID == p.avoid {
		return false
	}
	switch {
	case p.queue:
		return taskengine.FitsWhenFree(p.req, c)
	case p.queued:
		return taskengine.FitsQueued(p.req, c)
	}
	return taskengine.Fits(p.req, c)
}

// candidate returns the engine's candidate for fleet node i, if there is one.
func (p *Placer) candidate(i int) *taskengine.Candidate {
	id := p.fleet.Node(i).ID
	k, ok := slices.BinarySearchFunc(p.cur, id, func(c *taskengine.Candidate, id string) int { return strings.Compare(c.ID, id) })
	if !ok {
		return nil
	}
	return p.cur[k]
}

// task fills t from the request.
func (p *Placer) task(t *place.Task, r *taskengine.Request) {
	s := r.Spec
	*t = place.Task{
		Class: p.class(s.Class), Work: r.Work,
		InBytes: float64(s.InputBytes), OutBytes: float64(s.OutputBytes), Source: p.source(s.InputAt),
		Arrival: p.secs(r.Submitted), Priority: s.Priority, MemBytes: s.Resources.MemMB << 20,
		Checkpointable: s.Checkpointable, Allow: p.allow,
	}
	if b, src, ok := p.dataInput(s); ok {
		// The blobs the spec names are bytes that will move: at least as many as
		// declared, from where most of them are unless input_at says otherwise.
		t.InBytes = max(t.InBytes, b)
		if s.InputAt == "" {
			t.Source = src
		}
	}
	if d := s.Deadline.D(); d > 0 {
		// A deadline that fell before the Placer was made is long missed: like no deadline,
		// every node misses it, and the earliest wins.
		t.Deadline = max(p.secs(r.Submitted.Add(d)), 1e-9)
	}
	switch s.Constraints.Tier {
	case task.TierEdge:
		t.Tiers = place.MaskOf(place.TierEdge)
	case task.TierCloud:
		t.Tiers = place.MaskOf(place.TierCloud)
	}
	if p.queue {
		t.Policy = "" // the queue's node chooser
	} else if name, ok := aliases[s.Policy]; ok {
		t.Policy = name
	} else {
		t.Policy = s.Policy // an unknown one (a task stored before the configuration changed) gets the default
	}
}

// dataInput returns the total size of the spec's blob inputs and where the most of their
// bytes are held: -1 for the scheduler (the site), or a holding node's fleet index. The
// cost model has one source per task, so inputs split between holders are all taken to come
// from the largest holder: exact for the usual task (one input, or inputs in one place). ok
// is false for a spec without blob inputs.
func (p *Placer) dataInput(s *task.Spec) (bytes float64, source int, ok bool) {
	if len(s.Inputs) == 0 {
		return 0, -1, false
	}
	best, most := "", int64(-1) // the holder of the most bytes ("" for the site); no allocation
	for _, a := range s.Inputs {
		bytes += float64(a.Blob.Size)
		h := a.FromNode()
		var n int64
		for _, b := range s.Inputs { // at most task.MaxInputs each
			if b.FromNode() == h {
				n += b.Blob.Size
			}
		}
		if n > most || (n == most && h < best) {
			best, most = h, n
		}
	}
	if i, ok := p.nodes[best]; ok && best != "" {
		return bytes, i, true
	}
	return bytes, -1, true // the site, or a holder not in the fleet (as source does)
}

// source is the fleet index where input at lives: -1 for the site, SourceCloud for the
// cloud tier, the node's index, or -1 for a node not in the fleet.
func (p *Placer) source(at string) int {
	switch at {
	case "":
		return -1
	case task.InputCloud:
		return place.SourceCloud
	}
	if i, ok := p.nodes[at]; ok {
		return i
	}
	return -1
}

// class maps a task class to one of place's: the first MaxClasses−1 classes seen get one
// each, the rest share the last, so what submitters name cannot grow the fleet's state.
func (p *Placer) class(c string) int {
	if k, ok := p.classes[c]; ok {
		return k
	}
	if len(p.classes) == place.MaxClasses-1 {
		return place.MaxClasses - 1
	}
	k := len(p.classes)
	p.classes[c] = k
	return k
}
