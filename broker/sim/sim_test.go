package sim

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

// small returns a quick configuration: 10 edge nodes, 60 s of arrivals.
func small() Config {
	c := DefaultConfig()
	c.EdgeNodes, c.CloudCores = 10, 8
	c.Horizon, c.Warmup = 60, 10
	c.Seeds = 1
	c.Mixes, c.Loads, c.Staleness = []string{"ecs"}, []float64{0.6}, []float64{2}
	c.Plots = false
	return c
}

func runTo(t *testing.T, cfg Config) (dir, stdout string) {
	t.Helper()
	dir = t.TempDir()
	var out bytes.Buffer
	if err := Run(context.Background(), cfg, dir, &out); err != nil {
		t.Fatal(err)
	}
	return dir, out.String()
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSameSeedGivesByteIdenticalOutput(t *testing.T) {
	defer goleak.VerifyNone(t) // Run's workers must all have stopped
	cfg := small()
	cfg.Policies = []string{"tether", "srtf", "p2c", "oracle"}
	cfg.TaskCSV = true
	cfg.Seed = 7
	t.Logf("seed %d", cfg.Seed)
	a, _ := runTo(t, cfg)
	cfg.Parallel = 2 // parallelism must not change results
	b, _ := runTo(t, cfg)
	for _, name := range []string{"runs.csv", "summary.md", "tasks/ecs-load0.6-stale2-tether-seed7.csv",
		"tasks/ecs-load0.6-stale2-srtf-seed7.csv"} {
		if !bytes.Equal(read(t, filepath.Join(a, name)), read(t, filepath.Join(b, name))) {
			t.Errorf("%s differs between two runs with seed %d", name, cfg.Seed)
		}
	}
	cfg.Seed = 8
	c, _ := runTo(t, cfg)
	if bytes.Equal(read(t, filepath.Join(a, "runs.csv")), read(t, filepath.Join(c, "runs.csv"))) {
		t.Error("seeds 7 and 8 gave identical runs")
	}
}

func TestEveryPolicyRunsAndAccountsForEveryTask(t *testing.T) {
	cfg := small()
	cfg.Policies = []string{"rr", "random", "wrandom", "least-loaded", "least-work", "p2c",
		"tether", "oracle", "fifo", "sjf", "srtf", "edf", "priority"}
	cfg.Seed = 3
	t.Logf("seed %d", cfg.Seed)
	for _, p := range cfg.Policies {
		w, err := newWorld(&cfg, cell{Mix: "ecs", Load: 0.5, Stale: 2, Policy: p, Seed: cfg.Seed})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.simulate(context.Background()); err != nil {
			t.Fatal(err)
		}
		r := w.measure()
		if r.Tasks == 0 || math.IsNaN(r.Mean) {
			t.Errorf("%s: measured %d tasks, mean %v", p, r.Tasks, r.Mean)
		}
		left := 0
		for _, j := range w.jobs {
			switch j.state {
			case jsDone, jsRejected:
			default:
				if j.measured {
					left++
				}
				t.Logf("%s: task %d left %s (run unstable %v, %.2f %% of the work unfinished)",
					p, j.task.ID, stateNames[j.state], r.Unstable, 100*r.UnfinishedWork)
			}
		}
		if left != r.Unfinished || !r.Unstable && r.UnfinishedWork > unstableWork {
			t.Errorf("%s: %d measured tasks left, %d counted unfinished, %.2f %% of the work, unstable %v",
				p, left, r.Unfinished, 100*r.UnfinishedWork, r.Unstable)
		}
		if p == "tether" && (r.Unstable || r.Miss > 0.05) {
			t.Errorf("tether at load 0.5: unstable %v, misses %.1f %%", r.Unstable, 100*r.Miss)
		}
	}
}

func TestOverloadIsReportedUnstable(t *testing.T) {
	cfg := small()
	cfg.Policies = []string{"rr", "tether"}
	cfg.Loads = []float64{1.6}
	cfg.CloudCores = 0
	_, out := runTo(t, cfg)
	for _, p := range cfg.Policies {
		if !strings.Contains(out, "| ecs | 1.6 | 2 | "+p+" | 1/1 |") {
			t.Errorf("%s at load 1.6 without a cloud not reported unstable:\n%s", p, out)
		}
	}
}

func TestFlagsOverrideDefaults(t *testing.T) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	err := fs.Parse([]string{"-policies", "tether,p2c", "-loads", "0.5, 0.9", "-seeds", "2", "-wan-mbps", "3"})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Policies, want.Loads, want.Seeds, want.WANMbps = []string{"tether", "p2c"}, []float64{0.5, 0.9}, 2, 3
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
	cfg.Policies = []string{"nope"}
	cfg.Loads = []float64{-1}
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), `unknown policy "nope"`) || !strings.Contains(err.Error(), "load -1") {
		t.Errorf("Validate() = %v, want both problems named", err)
	}
}

func TestStatistics(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5}
	if got := quantile(xs, 0.5); got != 3 {
		t.Errorf("median = %v", got)
	}
	if got := quantile(xs, 0.99); math.Abs(got-4.96) > 1e-9 {
		t.Errorf("p99 = %v, want 4.96", got)
	}
	// sd = sqrt(2.5); t(4) = 2.776; half-width = 2.776 × 1.5811 / sqrt(5)
	if got := ci95(xs); math.Abs(got-1.9629) > 1e-3 {
		t.Errorf("ci95 = %v, want 1.963", got)
	}
	if got := slope([]float64{0, 1, 2}, []float64{1, 3, 5}); got != 2 {
		t.Errorf("slope = %v", got)
	}
}

func TestPlotsAreWritten(t *testing.T) {
	cfg := small()
	cfg.Policies = []string{"tether", "least-work"}
	cfg.Plots = true
	dir, _ := runTo(t, cfg)
	files := []string{"ecs-p99-vs-load.png", "ecs-miss-vs-load.png", "ecs-p99-vs-staleness.png",
		"ecs-p50-vs-load.png", "ecs-mean-vs-load.png", "ecs-offload-vs-load.png", "ecs-wan-vs-load.png", "ecs-util-vs-load.png"}
	for _, a := range Apps() {
		files = append(files, "ecs-miss-vs-load-"+a.Name+".png") // per task class
	}
	for _, f := range files {
		if b := read(t, filepath.Join(dir, f)); !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG", f)
		}
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := small()
	cfg.Parallel = 2
	err := Run(ctx, cfg, t.TempDir(), io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context = %v, want context.Canceled", err)
	}
}
