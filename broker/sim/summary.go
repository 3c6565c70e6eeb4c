package sim

import (
	"fmt"
	"io"
	"strings"
)

// writeSummary writes the per-configuration table and the acceptance check as Markdown.
func writeSummary(w io.Writer, cfg *Config, aggs []agg) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Tether placement simulation: %d edge nodes (%.0f%% Pi Zero 2 W, %.0f%% Pi 5, rest Pi 4), "+
		"cloud pool %d vCPU, WAN %g Mbit/s RTT %g ms, horizon %g s (warm-up %g s), %d seeds from %d.\n\n",
		cfg.EdgeNodes, 100*cfg.ZeroShare, 100*cfg.Pi5Share, cfg.CloudCores, cfg.WANMbps,
		1000*cfg.WANRTT, cfg.Horizon, cfg.Warmup, cfg.Seeds, cfg.Seed)
	b.WriteString("Times in seconds, mean ± 95 % CI over seeds. UNSTABLE k/n: in k of n seeds the queue grew " +
		"without bound, the run diverged, or over 1 % of the measured work was unfinished; such a seed's times " +
		"count unfinished tasks at their age when the run ended, so they are lower bounds. " +
		"bound: the clairvoyant lower bound (each task alone on its fastest node; no policy does better).\n\n")
	writePivot(&b, cfg, aggs, "p99 completion time (s)", func(a agg) string {
		return unstable(a) + pm(a.P99, 1)
	}, func(a agg) string { return pm(a.BoundP99, 1) })
	writePivot(&b, cfg, aggs, "deadline misses (%)", func(a agg) string { return unstable(a) + pm(a.Miss, 100) },
		func(a agg) string { return pm(a.BoundMiss, 100) })
	b.WriteString("All metrics:\n\n")
	b.WriteString("| mix | load | stale s | policy | unstable | unfinished work % | mean | p50 | p95 | p99 | miss % | offload % | WAN MB | util σ |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, a := range aggs {
		fmt.Fprintf(&b, "| %s | %g | %g | %s | %d/%d | %s | ", a.Mix, a.Load, a.Stale, a.Policy, a.Unstable, a.Seeds,
			pm(a.UnfinishedWork, 100))
		fmt.Fprintf(&b, "%s | %s | %s | %s | ", pm(a.Mean, 1), pm(a.P50, 1), pm(a.P95, 1), pm(a.P99, 1))
		fmt.Fprintf(&b, "%s | %s | %s | %s |\n", pm(a.Miss, 100), pm(a.Offload, 100), pm(a.CloudMB, 1), pm(a.Util, 1))
	}
	b.WriteString("\n")
	writeClassMisses(&b, cfg, aggs)
	writeAcceptance(&b, cfg, aggs)
	_, err := io.WriteString(w, b.String())
	return err
}

// unstable prefixes a cell of a configuration unstable in some seeds.
func unstable(a agg) string {
	if a.Unstable == 0 {
		return ""
	}
	return fmt.Sprintf("UNSTABLE %d/%d ≥ ", a.Unstable, a.Seeds)
}

// writePivot writes one metric as a table: a row per (mix, load, staleness), a column per
// policy, and a last column with the clairvoyant bound.
func writePivot(b *strings.Builder, cfg *Config, aggs []agg, title string, cell, bound func(agg) string) {
	fmt.Fprintf(b, "%s:\n\n| mix | load | stale s |", title)
	for _, p := range cfg.Policies {
		fmt.Fprintf(b, " %s |", p)
	}
	b.WriteString(" bound |\n|---|---|---|" + strings.Repeat("---|", len(cfg.Policies)+1) + "\n")
	for _, m := range cfg.Mixes {
		for _, l := range cfg.Loads {
			for _, s := range cfg.Staleness {
				fmt.Fprintf(b, "| %s | %g | %g |", m, l, s)
				v := "—"
				for _, p := range cfg.Policies {
					a, ok := find(aggs, key{m, l, s, p})
					c := "—"
					if ok {
						c, v = cell(a), bound(a)
					}
					fmt.Fprintf(b, " %s |", c)
				}
				fmt.Fprintf(b, " %s |", v)
				b.WriteString("\n")
			}
		}
	}
	b.WriteString("\n")
}

// pm formats a stat scaled by k as "m ± ci".
func pm(s stat, k float64) string {
	return fmt.Sprintf("%.3g ± %.2g", s.M*k, s.CI*k)
}

// writeClassMisses writes, per mix, each policy's deadline misses per task class at the load
// nearest 0.9 and the staleness nearest 2 s.
func writeClassMisses(b *strings.Builder, cfg *Config, aggs []agg) {
	load, stale := nearest(cfg.Loads, 0.9), nearest(cfg.Staleness, 2)
	for _, mix := range cfg.Mixes {
		site, err := cfg.site(mix)
		if err != nil {
			continue
		}
		fmt.Fprintf(b, "Deadline misses per task class (%%), %s at load %g, staleness %g s:\n\n| policy |", mix, load, stale)
		for _, a := range site.Apps {
			fmt.Fprintf(b, " %s |", a.Name)
		}
		b.WriteString("\n|---|" + strings.Repeat("---|", len(site.Apps)) + "\n")
		for _, p := range cfg.Policies {
			a, ok := find(aggs, key{mix, load, stale, p})
			if !ok {
				continue
			}
			fmt.Fprintf(b, "| %s |", p)
			for _, s := range a.ClassMiss {
				fmt.Fprintf(b, " %s |", pm(s, 100))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
}
