package sim

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// writePlots draws, per mix, p99, p50, mean, miss rate, offload share, WAN traffic, the
// spread of edge utilisation and each task class's miss rate (<mix>-miss-vs-load-<class>.png)
// against load (at the staleness nearest 2 s) and p99 against staleness (at the load nearest
// 0.7), one line per policy, every point with its 95 % confidence interval. Every policy is
// drawn: one unstable in some seed at some point of a figure is named "(unstable)" in the
// legend, and its points there are lower bounds.
func writePlots(outDir string, cfg *Config, aggs []agg) error {
	stale, load := nearest(cfg.Staleness, 2), nearest(cfg.Loads, 0.7)
	for _, mix := range cfg.Mixes {
		figs := []figure{
			{"p99-vs-load", "p99 completion, staleness %g s", "offered load", "p99 completion (s)",
				cfg.Loads, func(x float64, p string) key { return key{mix, x, stale, p} },
				func(a agg) float64 { return a.P99.M }, func(a agg) float64 { return a.P99.CI }, true},
			{"miss-vs-load", "deadline misses, staleness %g s", "offered load", "deadline misses (%)",
				cfg.Loads, func(x float64, p string) key { return key{mix, x, stale, p} },
				func(a agg) float64 { return 100 * a.Miss.M }, func(a agg) float64 { return 100 * a.Miss.CI }, false},
			{"p99-vs-staleness", "p99 completion, load %g", "telemetry staleness (s)", "p99 completion (s)",
				cfg.Staleness, func(x float64, p string) key { return key{mix, load, x, p} },
				func(a agg) float64 { return a.P99.M }, func(a agg) float64 { return a.P99.CI }, true},
			{"p50-vs-load", "median completion, staleness %g s", "offered load", "p50 completion (s)",
				cfg.Loads, func(x float64, p string) key { return key{mix, x, stale, p} },
				func(a agg) float64 { return a.P50.M }, func(a agg) float64 { return a.P50.CI }, true},
			{"mean-vs-load", "mean completion, staleness %g s", "offered load", "mean completion (s)",
				cfg.Loads, func(x float64, p string) key { return key{mix, x, stale, p} },
				func(a agg) float64 { return a.Mean.M }, func(a agg) float64 { return a.Mean.CI }, true},
			{"offload-vs-load", "share offloaded to the cloud tier, staleness %g s", "offered load", "tasks run in the cloud (%)",
				cfg.Loads, func(x float64, p string) key { return key{mix, x, stale, p} },
				func(a agg) float64 { return 100 * a.Offload.M }, func(a agg) float64 { return 100 * a.Offload.CI }, false},
			{"wan-vs-load", "data over the WAN, staleness %g s", "offered load", "WAN traffic (MB)",
				cfg.Loads, func(x float64, p string) key { return key{mix, x, stale, p} },
				func(a agg) float64 { return a.CloudMB.M }, func(a agg) float64 { return a.CloudMB.CI }, false},
			{"util-vs-load", "spread of edge utilisation, staleness %g s", "offered load", "std. dev. of edge nodes' busy share",
				cfg.Loads, func(x float64, p string) key { return key{mix, x, stale, p} },
				func(a agg) float64 { return a.Util.M }, func(a agg) float64 { return a.Util.CI }, false},
		}
		if site, err := cfg.site(mix); err == nil {
			for c, app := range site.Apps {
				miss := func(a agg) stat {
					if c < len(a.ClassMiss) {
						return a.ClassMiss[c]
					}
					return stat{}
				}
				figs = append(figs, figure{"miss-vs-load-" + fileSafe(app.Name), "deadline misses of class " + app.Name + ", staleness %g s",
					"offered load", "deadline misses (%)",
					cfg.Loads, func(x float64, p string) key { return key{mix, x, stale, p} },
					func(a agg) float64 { return 100 * miss(a).M }, func(a agg) float64 { return 100 * miss(a).CI }, false})
			}
		}
		for _, fg := range figs {
			p := plot.New()
			param := stale
			if fg.file == "p99-vs-staleness" {
				param = load
			}
			p.Title.Text = fmt.Sprintf("%s: "+fg.title+"; 95 %% CI bars", mix, param)
			p.X.Label.Text, p.Y.Label.Text = fg.x, fg.y
			if fg.log {
				p.Y.Scale = plot.LogScale{}
				p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
			}
			p.Legend.Top = true
			p.Legend.Left = true
			if lo, hi := minMax(fg.xs); hi > lo {
				// Room on the left for the legend, so it covers no line.
				p.X.Min, p.X.Max = lo-(hi-lo), hi+(hi-lo)/20
			}
			for k, pol := range cfg.Policies {
				var xys plotter.XYs
				var errs plotter.YErrors
				name := pol
				for _, x := range fg.xs {
					a, ok := find(aggs, fg.at(x, pol))
					if !ok || fg.log && fg.val(a) <= 0 {
						continue
					}
					if a.Unstable > 0 {
						name = pol + " (unstable)"
					}
					y := fg.val(a)
					half := fg.ci(a)
					lo := half
					if fg.log {
						lo = min(half, 0.9*y) // a log axis cannot draw below zero
					}
					xys = append(xys, plotter.XY{X: x, Y: y})
					errs = append(errs, struct{ Low, High float64 }{lo, half})
				}
				if len(xys) == 0 {
					continue
				}
				l, pts, err := plotter.NewLinePoints(xys)
				if err != nil {
					return fmt.Errorf("plot %s: %w", fg.file, err)
				}
				l.Color, pts.Color = plotutil.Color(k), plotutil.Color(k)
				l.Dashes = plotutil.Dashes(k)
				pts.Shape = plotutil.Shape(k)
				eb, err := plotter.NewYErrorBars(errXYs{xys, errs})
				if err != nil {
					return fmt.Errorf("plot %s: %w", fg.file, err)
				}
				eb.Color = plotutil.Color(k)
				p.Add(l, pts, eb)
				p.Legend.Add(name, l, pts)
			}
			name := filepath.Join(outDir, fmt.Sprintf("%s-%s.png", mix, fg.file))
			if err := p.Save(7*vg.Inch, 4.5*vg.Inch, name); err != nil {
				return fmt.Errorf("plot %s: %w", name, err)
			}
		}
	}
	return nil
}

// figure is one plot of a mix: val (with ci, its 95 % half-width) of each policy at key
// at(x, policy) for every x in xs.
type figure struct {
	file, title, x, y string
	xs                []float64
	at                func(x float64, p string) key
	val, ci           func(agg) float64
	log               bool
}

// fileSafe maps a class name to a file name's part: letters, digits, '-' and '_' kept,
// anything else '_'.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return '_'
	}, s)
}

// errXYs is a line's points with their error bars.
type errXYs struct {
	plotter.XYs
	plotter.YErrors
}

func minMax(xs []float64) (lo, hi float64) {
	lo, hi = xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}
