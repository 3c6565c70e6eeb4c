package place

import "math/rand/v2"

// TetherOptions tune the Tether policy; zero values take the defaults in parentheses.
type TetherOptions struct {
	// Best is how many nodes to take from the top of each index: the fastest nodes with a
	// free slot and the nodes whose slot frees soonest (15: four heap levels). The indexes rank
	// by a class-independent rate and ignore where the data lives, so the true best node is
	// often near the top but not at it; in simulation 15 beat 7 clearly at load 0.9.
	Best int
	// Samples is how many extra edge nodes to draw uniformly, so that nodes the indexes rank
	// wrongly still get looked at (8).
	Samples int
	// HealthPenalty stretches the estimated time-to-completion of a node reporting thermal
	// throttling or undervoltage, which are slow now and likely to reboot soon (2).
	HealthPenalty float64
	// CloudBudget caps cloud spend, in price units per second of wall time; 0 is unlimited.
	CloudBudget float64
	// BudgetBurst is how many seconds of unspent budget may accumulate (60).
	BudgetBurst float64
}

func (o *TetherOptions) ensureDefaults() {
	if o.Best <= 0 {
		o.Best = 15
	}
	if o.Samples <= 0 {
		o.Samples = 8
	}
	if o.HealthPenalty < 1 {
		o.HealthPenalty = 2
	}
	if o.BudgetBurst <= 0 {
		o.BudgetBurst = 60
	}
}

// maxCandidates bounds one decision's candidate set: O(1) per decision at any fleet size.
const maxCandidates = 48

// Tether is the default policy. For a bounded candidate set — the task's data-local node, the
// top of the free-slot and soonest-free indexes, a few uniform samples and the cloud tier — it
// estimates completion time with Completion (the scheduler's own record for the wait, learned
// per-class rates corrected by reported background load, transfer over the real links) and
// picks the earliest that meets the deadline, else the earliest overall. Nodes reporting a
// health flag are penalised; the cloud is used only while the budget allows.
type Tether struct {
	opt    TetherOptions
	rng    *rand.Rand
	tokens float64 // unspent cloud budget
	last   float64 // when tokens was last topped up
	cand   [maxCandidates]int
}

// NewTether returns the Tether policy.
func NewTether(rng *rand.Rand, opt TetherOptions) *Tether {
	opt.ensureDefaults()
	return &Tether{opt: opt, rng: rng, tokens: opt.CloudBudget * opt.BudgetBurst}
}

func (p *Tether) Name() string { return "tether" }

// Pick chooses a node; when it chooses a cloud node it spends the task's cost from the budget.
func (p *Tether) Pick(f *View, t *Task, now float64) Decision {
	cands := p.candidates(f, t)
	p.topUp(now)
	best, bestScore, bestEst, bestOK := -1, 0.0, 0.0, false
	for _, i := range cands {
		n := f.Node(i)
		if n.Tier == TierCloud && !p.affordable(n, t) {
			continue
		}
		est := Completion(f, f, i, t, now)
		score := est
		if f.Reported(i).Health != 0 {
			score = now + (est-now)*p.opt.HealthPenalty
		}
		ok := t.Deadline <= 0 || est <= t.Deadline
		if better(i, score, ok, best, bestScore, bestOK) {
			best, bestScore, bestEst, bestOK = i, score, est, ok
		}
	}
	if best < 0 {
		return NoNode()
	}
	if n := f.Node(best); n.Tier == TierCloud && p.opt.CloudBudget > 0 {
		p.tokens -= cost(n, t)
	}
	return Decision{Node: best, Est: bestEst}
}

// refund gives back the budget Pick spent on cloud node i for t, for a decision not carried
// out.
func (p *Tether) refund(f *View, i int, t *Task) {
	if n := f.Node(i); n.Tier == TierCloud && p.opt.CloudBudget > 0 {
		p.tokens += cost(n, t)
	}
}

// candidates fills p.cand with distinct usable nodes and returns them.
func (p *Tether) candidates(f *View, t *Task) []int {
	c := p.cand[:0]
	add := func(i int) {
		if i < 0 || len(c) == cap(c) || !f.usable(i, t) {
			return
		}
		for _, j := range c {
			if j == i {
				return
			}
		}
		c = append(c, i)
	}
	if t.Source >= 0 && t.Source < f.Len() {
		add(t.Source)
	}
	for k := 0; k < p.opt.Best && k < f.free.len(); k++ {
		add(f.free.at(k))
	}
	for k := 0; k < p.opt.Best && k < f.busy.len(); k++ {
		add(f.busy.at(k))
	}
	if e := f.Edge(); len(e) > 0 {
		for k := 0; k < p.opt.Samples; k++ {
			add(e[p.rng.IntN(len(e))])
		}
		// A task that fits few nodes (large memory) may have found none: look further.
		for k := 0; k < 4*retries && len(c) == 0; k++ {
			add(e[p.rng.IntN(len(e))])
		}
	}
	cl := f.Cloud()
	if len(cl) <= 8 {
		for _, i := range cl {
			add(i)
		}
	} else {
		for k := 0; k < 8; k++ {
			add(cl[p.rng.IntN(len(cl))])
		}
	}
	return c
}

// topUp accrues budget for the time since the last decision.
func (p *Tether) topUp(now float64) {
	if p.opt.CloudBudget <= 0 {
		return
	}
	if now > p.last {
		p.tokens = min(p.tokens+(now-p.last)*p.opt.CloudBudget, p.opt.CloudBudget*p.opt.BudgetBurst)
		p.last = now
	}
}

func (p *Tether) affordable(n *NodeSpec, t *Task) bool {
	return p.opt.CloudBudget <= 0 || p.tokens >= cost(n, t)
}

// cost is the price of running t on node n at its declared speed.
func cost(n *NodeSpec, t *Task) float64 {
	return n.PricePerCPUSecond * t.Left() / max(n.Speed, 1e-9)
}
