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

// pm formats a stat scaled by k as "m ± ci".
func pm(s stat, k float64) string {
	return fmt.Sprintf("%.3g ± %.2g", s.M*k, s.CI*k)
}
