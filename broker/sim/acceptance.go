package sim

import (
	"fmt"
	"math"
	"strings"
)

// notBaselines are the policies a baseline comparison leaves out: Tether itself and the
// greedy oracle, which reads the simulator's truth no scheduler has.
var notBaselines = map[string]bool{"tether": true, "oracle": true}

// writeAcceptance checks issue 13's targets at the load nearest 0.9 and the staleness nearest
// 2 s for every mix, with the ordering check at the other staleness values. The best baseline
// is the one with the lowest mean p99 among those stable in every seed; when none is, the
// check says so and asks only that Tether be stable, as an unstable run's censored times are
// lower bounds (never infinite) too weak to form a ratio with.
func writeAcceptance(b *strings.Builder, cfg *Config, aggs []agg) {
	load, stale := nearest(cfg.Loads, 0.9), nearest(cfg.Staleness, 2)
	fmt.Fprintf(b, "Acceptance at load %g, staleness %g s (means over seeds; the best baseline is the stable one with the lowest p99).\n\n", load, stale)
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
		var p99Best, missBest agg
		p99Name, missName := "", ""
		anyStable := false
		for _, p := range cfg.Policies {
			if a, ok := get(p, stale); ok && !notBaselines[p] && a.Unstable == 0 {
				anyStable = true
			}
		}
		for _, p := range cfg.Policies {
			a, ok := get(p, stale)
			if !ok || notBaselines[p] || anyStable && a.Unstable > 0 {
				continue
			}
			if p99Name == "" || a.P99.M < p99Best.P99.M {
				p99Best, p99Name = a, p
			}
			if missName == "" || a.Miss.M < missBest.Miss.M {
				missBest, missName = a, p
			}
		}
		switch {
		case p99Name != "" && !anyStable:
			// An unstable run stops early, so its censored times are weak lower bounds: no
			// ratio against them means anything. Stable where every baseline is not is the
			// result.
			row("p99 and misses against the best baseline", fmt.Sprintf("no baseline stable in every seed; tether unstable %d/%d", t.Unstable, t.Seeds),
				t.Unstable == 0)
		case p99Name != "":
			row("never unstable where a baseline is stable", fmt.Sprintf("tether unstable %d/%d; stable baselines: %v", t.Unstable, t.Seeds, anyStable),
				t.Unstable == 0 || !anyStable)
			r := p99Best.P99.M / t.P99.M
			row("p99 ≥ 1.5× lower than the best baseline", fmt.Sprintf("%.2f× (%s %.3g ± %.2g s vs %.3g ± %.2g s)", r, p99Name,
				p99Best.P99.M, p99Best.P99.CI, t.P99.M, t.P99.CI), r >= 1.5)
			row("misses ≤ half the best baseline's", fmt.Sprintf("%.2f %% vs %.2f %% (%s)", 100*t.Miss.M, 100*missBest.Miss.M, missName),
				t.Miss.M <= missBest.Miss.M/2)
		}
		if o, ok := get("oracle", stale); ok {
			row("fewer misses than the greedy oracle", fmt.Sprintf("%.2f %% vs %.2f %%", 100*t.Miss.M, 100*o.Miss.M), t.Miss.M < o.Miss.M)
		}
		b.WriteString(fmt.Sprintf("| %s | (clairvoyant bound, for scale) | p99 %.3g s, misses %.2f %%, mean %.3g s | — |\n",
			mix, t.BoundP99.M, 100*t.BoundMiss.M, t.BoundMean.M))
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
		if notBaselines[p] {
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

// p99 is the configuration's mean p99 (a lower bound when a seed was unstable).
func p99(a agg) float64 { return a.P99.M }

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
