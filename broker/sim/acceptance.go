package sim

import (
	"fmt"
	"math"
	"strings"
)

// classic are the source document's algorithms, the baselines of the first target.
var classic = []string{"rr", "random", "wrandom", "sjf", "srtf"}

// writeAcceptance checks issue 5's targets at load 0.7 and 2 s staleness (or the grid's
// nearest values) for every mix, with the ordering check at the other staleness values.
func writeAcceptance(b *strings.Builder, cfg *Config, aggs []agg) {
	load, stale := nearest(cfg.Loads, 0.7), nearest(cfg.Staleness, 2)
	fmt.Fprintf(b, "Acceptance at load %g, staleness %g s (p99 and misses: means over seeds; an unstable baseline counts as infinitely slow).\n\n", load, stale)
	b.WriteString("| mix | target | measured | met |\n|---|---|---|---|\n")
	for _, mix := range cfg.Mixes {
		get := func(p string, s float64) (agg, bool) { return find(aggs, key{mix, load, s, p}) }
		t, ok := get("tether", stale)
		if !ok {
			continue
		}
		row := func(target, measured string, met bool) {
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", mix, target, measured, yes(met))
		}
		best, bestName := math.Inf(1), ""
		for _, p := range classic {
			if a, ok := get(p, stale); ok && p99(a) < best {
				best, bestName = p99(a), p
			}
		}
		if bestName == "" {
			bestName = "all unstable"
		}
		{
			r := best / p99(t)
			row("p99 ≥ 5× lower than best classic", fmt.Sprintf("%.1f× (best: %s)", r, bestName), r >= 5)
		}
		for _, p := range []string{"p2c", "least-work"} {
			a, ok := get(p, stale)
			if !ok {
				continue
			}
			cut := 1 - p99(t)/p99(a)
			row("p99 ≥ 35 % lower than "+p, fmt.Sprintf("%.0f %%", 100*cut), cut >= 0.35)
			mcut := 1 - t.Miss.M/math.Max(a.Miss.M, 1e-12)
			row("misses ≥ 50 % fewer than "+p, fmt.Sprintf("%.0f %% (%.2f %% vs %.2f %%)", 100*mcut, 100*t.Miss.M, 100*a.Miss.M), mcut >= 0.5)
		}
		row("misses ≤ 2 %", fmt.Sprintf("%.2f %%", 100*t.Miss.M), t.Miss.M <= 0.02 && t.Unstable == 0)
		if o, ok := get("oracle", stale); ok {
			d := t.Mean.M/o.Mean.M - 1
			row("mean within 10 % of oracle", fmt.Sprintf("%+.1f %% (%.3g s vs %.3g s)", 100*d, t.Mean.M, o.Mean.M), d <= 0.10)
		}
		for _, s := range cfg.Staleness {
			if s == stale {
				continue
			}
			diff := orderDiff(aggs, mix, load, stale, s, cfg.Policies)
			row(fmt.Sprintf("same ordering at %g s", s), orDash(diff), diff == "")
		}
	}
}

// orderDiff lists the baselines whose comparison with Tether on p99 flips between staleness
// a and b.
func orderDiff(aggs []agg, mix string, load, a, b float64, policies []string) string {
	var flips []string
	ta, okA := find(aggs, key{mix, load, a, "tether"})
	tb, okB := find(aggs, key{mix, load, b, "tether"})
	if !okA || !okB {
		return "no data"
	}
	for _, p := range policies {
		if p == "tether" || p == "oracle" {
			continue
		}
		pa, ok1 := find(aggs, key{mix, load, a, p})
		pb, ok2 := find(aggs, key{mix, load, b, p})
		if ok1 && ok2 && (p99(ta) < p99(pa)) != (p99(tb) < p99(pb)) {
			flips = append(flips, p)
		}
	}
	return strings.Join(flips, ", ")
}

// p99 is the configuration's mean p99, or +Inf when any seed was unstable.
func p99(a agg) float64 {
	if a.Unstable > 0 {
		return math.Inf(1)
	}
	return a.P99.M
}

func nearest(xs []float64, want float64) float64 {
	best := xs[0]
	for _, x := range xs {
		if math.Abs(x-want) < math.Abs(best-want) {
			best = x
		}
	}
	return best
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

func orDash(s string) string {
	if s == "" {
		return "same"
	}
	return "flips vs " + s
}
