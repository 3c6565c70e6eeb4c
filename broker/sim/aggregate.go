package sim

// key identifies one configuration: a cell without its seed.
type key struct {
	Mix    string
	Load   float64
	Stale  float64
	Policy string
}

// stat is a mean over seeds with its 95 % confidence half-width.
type stat struct{ M, CI float64 }

func statOf(xs []float64) stat { return stat{M: mean(xs), CI: ci95(xs)} }

// agg is one configuration summarised over its seeds.
type agg struct {
	key
	Seeds, Unstable, Diverged                int
	Mean, P50, P95, P99, Miss, Offload, Util stat
	CloudMB, UnfinishedWork                  stat
	// Bound is the clairvoyant lower bound on the same tasks (the workload does not depend on
	// the policy, so every policy of a configuration has the same bound).
	BoundMean, BoundP99, BoundMiss stat
	ClassMiss                      []stat // per task class
}

// aggregate groups results by configuration, in first-seen order.
func aggregate(rs []Result) []agg {
	var order []key
	groups := map[key][]Result{}
	for _, r := range rs {
		k := key{r.Mix, r.Load, r.Stale, r.Policy}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	out := make([]agg, 0, len(order))
	for _, k := range order {
		g := groups[k]
		col := func(f func(Result) float64) stat {
			xs := make([]float64, len(g))
			for i, r := range g {
				xs[i] = f(r)
			}
			return statOf(xs)
		}
		a := agg{key: k, Seeds: len(g)}
		for _, r := range g {
			if r.Unstable {
				a.Unstable++
			}
			if r.Diverged {
				a.Diverged++
			}
		}
		a.Mean = col(func(r Result) float64 { return r.Mean })
		a.P50 = col(func(r Result) float64 { return r.P50 })
		a.P95 = col(func(r Result) float64 { return r.P95 })
		a.P99 = col(func(r Result) float64 { return r.P99 })
		a.Miss = col(func(r Result) float64 { return r.Miss })
		a.Offload = col(func(r Result) float64 { return r.Offload })
		a.CloudMB = col(func(r Result) float64 { return r.CloudMB })
		a.Util = col(func(r Result) float64 { return r.UtilSpread })
		a.UnfinishedWork = col(func(r Result) float64 { return r.UnfinishedWork })
		a.BoundMean = col(func(r Result) float64 { return r.Bound.Mean })
		a.BoundP99 = col(func(r Result) float64 { return r.Bound.P99 })
		a.BoundMiss = col(func(r Result) float64 { return r.Bound.Miss })
		for c := range g[0].ClassMiss {
			a.ClassMiss = append(a.ClassMiss, col(func(r Result) float64 { return r.ClassMiss[c] }))
		}
		out = append(out, a)
	}
	return out
}

// find returns the aggregate for k.
func find(aggs []agg, k key) (agg, bool) {
	for _, a := range aggs {
		if a.key == k {
			return a, true
		}
	}
	return agg{}, false
}
