package sim

import (
	"context"
	"math"
	"testing"
)

// run simulates one cell of cfg and returns its world.
func run(t *testing.T, cfg *Config, c cell) *world {
	t.Helper()
	w, err := newWorld(cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.simulate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestOneUnfinishedTaskIsNotUnstable: a stable run with one measured task left unfinished
// counts that task as a miss with a censored time, not as an unbounded queue.
func TestOneUnfinishedTaskIsNotUnstable(t *testing.T) {
	cfg := small()
	w := run(t, &cfg, cell{Mix: "ecs", Load: 0.5, Stale: 2, Policy: "tether", Seed: 1})
	r := w.measure()
	if r.Unstable || r.Unfinished != 0 {
		t.Fatalf("baseline run: unstable %v, %d unfinished", r.Unstable, r.Unfinished)
	}
	for _, j := range w.jobs {
		if j.measured && j.state == jsDone {
			j.state, j.left, j.rate, j.since = jsRunning, j.task.Work/2, 1, w.now
			break
		}
	}
	r2 := w.measure()
	t.Logf("%d tasks; one left running: unfinished work %.3f %%, miss %.2f %% → %.2f %%",
		r2.Tasks, 100*r2.UnfinishedWork, 100*r.Miss, 100*r2.Miss)
	if r2.Unfinished != 1 || r2.Unstable || r2.Miss <= r.Miss || r2.UnfinishedWork <= 0 {
		t.Errorf("one unfinished task: unfinished %d, unstable %v, miss %v (was %v), unfinished work %v",
			r2.Unfinished, r2.Unstable, r2.Miss, r.Miss, r2.UnfinishedWork)
	}
}

// TestOverloadDivergesEarly: a fleet offered nearly twice its capacity with no cloud is
// stopped once its backlog passes the divergence bound, well before the horizon, and is
// reported unstable.
func TestOverloadDivergesEarly(t *testing.T) {
	cfg := small()
	cfg.CloudCores = 0
	cfg.Horizon = 3600
	w := run(t, &cfg, cell{Mix: "ecs", Load: 1.9, Stale: 2, Policy: "sjf", Seed: 1})
	r := w.measure()
	t.Logf("stopped at %.0f s of %.0f with %d tasks in the system, %d events", w.now, cfg.Horizon, w.live, r.Events)
	if !r.Diverged || !r.Unstable || w.now >= cfg.Horizon/2 {
		t.Errorf("diverged %v, unstable %v, stopped at %.0f s", r.Diverged, r.Unstable, w.now)
	}
}

// TestBoundIsBelowEveryPolicy: no policy finishes any task sooner than its clairvoyant bound,
// and none misses fewer deadlines than the bound says must be missed.
func TestBoundIsBelowEveryPolicy(t *testing.T) {
	cfg := small()
	for _, p := range []string{"tether", "oracle", "srtf", "least-work", "edf"} {
		w := run(t, &cfg, cell{Mix: "compute", Load: 0.8, Stale: 2, Policy: p, Seed: 3})
		r := w.measure()
		for _, j := range w.jobs {
			if j.state == jsDone && j.done-j.task.Arrival < j.best-1e-9 {
				t.Errorf("%s: task %d done in %.4f s, bound %.4f s", p, j.task.ID, j.done-j.task.Arrival, j.best)
			}
		}
		t.Logf("%s: p99 %.2f s (bound %.2f), miss %.2f %% (bound %.2f %%)", p, r.P99, r.Bound.P99, 100*r.Miss, 100*r.Bound.Miss)
		if r.P99 < r.Bound.P99 || r.Mean < r.Bound.Mean || r.Miss < r.Bound.Miss {
			t.Errorf("%s beats the bound: %+v vs %+v", p, r, r.Bound)
		}
	}
}

// TestClassMissesAddUpToMisses: the per-class miss shares, weighted by each class's tasks,
// add up to the run's miss share.
func TestClassMissesAddUpToMisses(t *testing.T) {
	cfg := small()
	w := run(t, &cfg, cell{Mix: "ecs", Load: 0.9, Stale: 2, Policy: "least-work", Seed: 5})
	r := w.measure()
	sum, n := 0.0, 0
	for c, k := range r.ClassTasks {
		sum += r.ClassMiss[c] * float64(k)
		n += k
		t.Logf("%s: %d tasks, %.2f %% missed", w.apps[c].Name, k, 100*r.ClassMiss[c])
	}
	if n != r.Tasks || math.Abs(sum/float64(n)-r.Miss) > 1e-12 || r.Miss == 0 {
		t.Errorf("classes: %d tasks, %.4f missed; run: %d tasks, %.4f missed", n, sum/float64(n), r.Tasks, r.Miss)
	}
}
