package place

// Oracle bounds what any placement can achieve with the same decision rule as Tether: it
// evaluates every node with an Estimator that knows the truth (each node's real queue, real
// per-class speed under its real background load and throttling, the real WAN backlog) and
// picks the earliest completion that meets the deadline, else the earliest. O(n) per decision;
// it exists only in the simulator.
type Oracle struct{ truth Estimator }

// NewOracle returns the oracle reading the truth from est.
func NewOracle(est Estimator) *Oracle { return &Oracle{truth: est} }

func (p *Oracle) Name() string { return "oracle" }

// better reports whether candidate i (score, meets deadline ok) beats the best so far: meeting
// the deadline first, then the lower score, then the lower index, so ties are deterministic
// and independent of the order candidates were found in.
func better(i int, score float64, ok bool, best int, bestScore float64, bestOK bool) bool {
	switch {
	case best < 0:
		return true
	case ok != bestOK:
		return ok
	case score != bestScore:
		return score < bestScore
	}
	return i < best
}

func (p *Oracle) Pick(f *View, t *Task, now float64) Decision {
	best, bestEst, bestOK := -1, 0.0, false
	for i := 0; i < f.Len(); i++ {
		if !f.usable(i, t) {
			continue
		}
		est := Completion(f, p.truth, i, t, now)
		ok := t.Deadline <= 0 || est <= t.Deadline
		if better(i, est, ok, best, bestEst, bestOK) {
			best, bestEst, bestOK = i, est, ok
		}
	}
	if best < 0 {
		return NoNode()
	}
	return Decision{Node: best, Est: bestEst}
}
