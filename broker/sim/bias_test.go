package sim

import (
	"math"
	"testing"
)

// TestWorkBiasChangesOnlyWhatIsDeclared: with -work-bias 3 every task
// declares three times the work it declares without, and its true work (and
// so the clairvoyant best time) is the same, seed for seed: the scheduler is
// misinformed, the site is not.
func TestWorkBiasChangesOnlyWhatIsDeclared(t *testing.T) {
	jobsOf := func(bias float64) []*job {
		cfg := DefaultConfig()
		cfg.Horizon, cfg.Warmup, cfg.WorkBias = 60, 10, bias
		w, err := newWorld(&cfg, cell{Mix: "ecs", Load: 0.7, Stale: 2, Policy: "least-work", Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		w.runUntil(cfg.Horizon)
		return w.jobs
	}
	plain, biased := jobsOf(1), jobsOf(3)
	if len(plain) == 0 || len(plain) != len(biased) {
		t.Fatalf("%d tasks without a bias, %d with: the arrivals must not change", len(plain), len(biased))
	}
	for k, p := range plain {
		b := biased[k]
		if r := b.task.Work / p.task.Work; math.Abs(r-3) > 1e-9 {
			t.Fatalf("task %d declares %v with the bias, %v without: want 3×", k, b.task.Work, p.task.Work)
		}
		if tw, tp := b.task.Work*b.scale, p.task.Work*p.scale; math.Abs(tw/tp-1) > 1e-9 || math.Abs(b.best/p.best-1) > 1e-9 {
			t.Fatalf("task %d: true work %v (best %v s) with the bias, %v (%v s) without", k, tw, b.best, tp, p.best)
		}
	}
}
