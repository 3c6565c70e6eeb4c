package sim

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShippedScenariosMatchTheirMixes: the scenario files of the built-in mixes describe
// them exactly — the same seed gives byte-identical runs through the file and through -mixes.
func TestShippedScenariosMatchTheirMixes(t *testing.T) {
	for _, mix := range []string{"ecs", "sensing", "compute"} {
		base := DefaultConfig()
		base.Policies = []string{"srtf"}
		base.Seeds, base.Horizon, base.Warmup, base.Plots, base.TaskCSV = 1, 20, 5, false, true
		base.Loads, base.Staleness = []float64{0.9}, []float64{2}
		flags := base
		flags.Mixes = []string{mix}
		file := base
		if err := LoadScenario(filepath.Join("scenarios", mix+".yaml"), &file); err != nil {
			t.Fatal(err)
		}
		file.Loads, file.Staleness, file.Horizon, file.Warmup = base.Loads, base.Staleness, base.Horizon, base.Warmup
		a, _ := runTo(t, flags)
		b, _ := runTo(t, file)
		for _, name := range []string{"runs.csv", "tasks/" + mix + "-load0.9-stale2-srtf-seed1.csv"} {
			if x, y := read(t, filepath.Join(a, name)), read(t, filepath.Join(b, name)); !bytes.Equal(x, y) {
				t.Errorf("%s: %s differs between -mixes and the scenario file", mix, name)
			}
		}
	}
}

// TestEveryShippedScenarioLoads: each file in scenarios/ is valid and runs.
func TestEveryShippedScenarioLoads(t *testing.T) {
	files, err := filepath.Glob("scenarios/*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("scenarios: %v, %v", files, err)
	}
	for _, f := range files {
		cfg := DefaultConfig()
		if err := LoadScenario(f, &cfg); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		cfg.Policies, cfg.Seeds, cfg.Horizon, cfg.Warmup, cfg.Plots = []string{"tether"}, 1, 30, 5, false
		cfg.Loads = cfg.Loads[:1]
		_, out := runTo(t, cfg)
		if !strings.Contains(out, "| "+cfg.Site.Name+" |") {
			t.Errorf("%s: no results for %s:\n%s", f, cfg.Site.Name, out)
		}
	}
}

// TestScenarioValidationReportsEveryProblem: a scenario with many mistakes is refused with
// every one of them named, not only the first.
func TestScenarioValidationReportsEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	bad := `name: bad
wan: {mbps: 0, rtt: 0.05}
arrivals: {kind: weekly}
nodes:
  - {profile: pi9, count: 0}
  - {profile: pi4, count: 2, class_factors: {nosuch: 2}, link: {mbps: 10, rtt: 0.01, loss: 1.5}}
classes:
  - {name: a, share: 0, interarrival: 1, active: 1, work: {mean: 1}}
  - {name: a, share: 1, interarrival: 1, active: 1, work: {dist: pareto, mean: 1}}
  - {name: b, share: 1, interarrival: 1, active: 1, work: {dist: zipf, mean: 1}, input: moon, deadline: -1}
`
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	err := LoadScenario(path, &cfg)
	if err == nil {
		t.Fatal("bad scenario accepted")
	}
	t.Log(err)
	for _, want := range []string{"wan:", "arrivals.kind", "nodes[0].profile", "nodes[0].count",
		"nodes[1].class_factors.nosuch", "nodes[1].link", "classes[0].share", `classes[1].name: "a" appears twice`,
		"classes[1].work.cv", "classes[2].work.dist", "classes[2].input", "classes[2]: deadline"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q", want)
		}
	}
	// A misspelt key is refused too, with its line.
	if err := os.WriteFile(path, []byte("name: x\nnodez: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := LoadScenario(path, &cfg); err == nil || !strings.Contains(err.Error(), "nodez") {
		t.Errorf("misspelt key: %v", err)
	}
}

// TestDistributionsKeepTheirMeanAndSpread: lognormal and Pareto draws have the mean and the
// coefficient of variation asked for.
func TestDistributionsKeepTheirMeanAndSpread(t *testing.T) {
	w := &world{wl: stream(9, 1, cell{})}
	for _, tc := range []struct {
		dist     string
		cv, tolM float64
	}{{"exponential", 1, 0.01}, {"lognormal", 1.5, 0.02}, {"pareto", 2, 0.03}, {"fixed", 0, 0}} {
		const n = 400000
		var s, s2 float64
		for range n {
			x := w.draw(tc.dist, 2, tc.cv)
			s += x
			s2 += x * x
		}
		m := s / n
		cv := math.Sqrt(s2/n-m*m) / m
		t.Logf("%s: mean %.4f (want 2), cv %.3f (want %g)", tc.dist, m, cv, tc.cv)
		if math.Abs(m/2-1) > tc.tolM+1e-12 {
			t.Errorf("%s: mean %.4f, want 2", tc.dist, m)
		}
		if tc.dist != "pareto" && math.Abs(cv-tc.cv) > 0.1*tc.cv+1e-9 { // Pareto's sample cv converges too slowly to test
			t.Errorf("%s: cv %.3f, want %g", tc.dist, cv, tc.cv)
		}
	}
}

// TestModulatedArrivalsKeepTheOfferedLoad: diurnal arrivals submit as many tasks as Poisson
// ones over whole periods (within 5 %); bursty ones arrive burst_factor times as fast in a
// burst as in the calm (within 10 %), at rates whose time-weighted mean is the Poisson rate.
func TestModulatedArrivalsKeepTheOfferedLoad(t *testing.T) {
	counts := map[string]int{}
	for _, kind := range []ArrivalSpec{{Kind: "poisson"}, {Kind: "bursty", BurstFactor: 4, BurstMean: 60, CalmMean: 240},
		{Kind: "diurnal", Period: 600, Amplitude: 0.8}} {
		cfg := small()
		cfg.Crashes = false
		cfg.Horizon = 2400
		site, err := cfg.site("ecs")
		if err != nil {
			t.Fatal(err)
		}
		s := *site
		s.Arrivals = kind
		cfg.Site = &s
		w := run(t, &cfg, cell{Mix: "ecs", Load: 0.5, Stale: 2, Policy: "least-work", Seed: 4})
		counts[kind.Kind] = len(w.jobs)
		// Arrivals per minute: their spread shows the modulation.
		per := make([]float64, int(cfg.Horizon/60))
		for _, j := range w.jobs {
			per[int(j.task.Arrival/60)]++
		}
		t.Logf("%s: %d tasks, per minute σ/mean %.2f", kind.Kind, len(w.jobs), stddev(per)/mean(per))
		if kind.Kind != "bursty" {
			continue
		}
		// Split the horizon into burst and calm time and count the arrivals in each.
		var inBurst, burstTime float64
		sw := append(append([]float64(nil), w.switches...), math.Inf(1))
		for k := 0; k+1 < len(sw); k += 2 {
			from, to := sw[k], min(sw[k+1], cfg.Horizon)
			if from >= cfg.Horizon {
				break
			}
			burstTime += to - from
			for _, j := range w.jobs {
				if j.task.Arrival >= from && j.task.Arrival < to {
					inBurst++
				}
			}
		}
		burstRate := inBurst / burstTime
		calmRate := (float64(len(w.jobs)) - inBurst) / (cfg.Horizon - burstTime)
		t.Logf("bursty: %.0f s of bursts, %.2f vs %.2f tasks/s: ×%.2f", burstTime, burstRate, calmRate, burstRate/calmRate)
		if r := burstRate / calmRate; math.Abs(r/kind.BurstFactor-1) > 0.1 {
			t.Errorf("bursts ×%.2f the calm rate, want ×%g", r, kind.BurstFactor)
		}
		counts["bursty"] = int(float64(len(w.jobs)) / (w.peak*burstTime + w.calm*(cfg.Horizon-burstTime)) * cfg.Horizon)
	}
	for _, k := range []string{"bursty", "diurnal"} {
		if r := float64(counts[k]) / float64(counts["poisson"]); math.Abs(r-1) > 0.05 {
			t.Errorf("%s submitted %d tasks (per unit of mean rate), poisson %d", k, counts[k], counts["poisson"])
		}
	}
}
