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
	b.WriteString("Times in seconds, mean ± 95 % CI over seeds. UNSTABLE k/n: in k of n seeds the queue grew without bound.\n\n")
	writePivot(&b, cfg, aggs, "p99 completion time (s)", func(a agg) string {
		if a.Unstable > 0 {
			return fmt.Sprintf("UNSTABLE %d/%d", a.Unstable, a.Seeds)
		}
		return pm(a.P99, 1)
	})
	writePivot(&b, cfg, aggs, "deadline misses (%)", func(a agg) string { return pm(a.Miss, 100) })
	b.WriteString("All metrics:\n\n")
	b.WriteString("| mix | load | stale s | policy | mean | p50 | p95 | p99 | miss % | offload % | WAN MB | util σ |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, a := range aggs {
		fmt.Fprintf(&b, "| %s | %g | %g | %s | ", a.Mix, a.Load, a.Stale, a.Policy)
		if a.Unstable > 0 {
			fmt.Fprintf(&b, "UNSTABLE %d/%d | | | | ", a.Unstable, a.Seeds)
		} else {
			fmt.Fprintf(&b, "%s | %s | %s | %s | ", pm(a.Mean, 1), pm(a.P50, 1), pm(a.P95, 1), pm(a.P99, 1))
		}
		fmt.Fprintf(&b, "%s | %s | %s | %s |\n", pm(a.Miss, 100), pm(a.Offload, 100), pm(a.CloudMB, 1), pm(a.Util, 1))
	}
	b.WriteString("\n")
	writeAcceptance(&b, cfg, aggs)
	_, err := io.WriteString(w, b.String())
	return err
}

// writePivot writes one metric as a table: a row per (mix, load, staleness), a column per
// policy.
func writePivot(b *strings.Builder, cfg *Config, aggs []agg, title string, cell func(agg) string) {
	fmt.Fprintf(b, "%s:\n\n| mix | load | stale s |", title)
	for _, p := range cfg.Policies {
		fmt.Fprintf(b, " %s |", p)
	}
	b.WriteString("\n|---|---|---|" + strings.Repeat("---|", len(cfg.Policies)) + "\n")
	for _, m := range cfg.Mixes {
		for _, l := range cfg.Loads {
			for _, s := range cfg.Staleness {
				fmt.Fprintf(b, "| %s | %g | %g |", m, l, s)
				for _, p := range cfg.Policies {
					a, ok := find(aggs, key{m, l, s, p})
					v := "—"
					if ok {
						v = cell(a)
					}
					fmt.Fprintf(b, " %s |", v)
				}
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
