package place

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLearnedRatesConvergeWithinTwentyCompletions: a node declared at one
// reference core whose tasks truly run at 0.3× or 3× that, each run's time
// off by a lognormal error of σ = 0.2: after 20 completions of one class,
// the View's rate for that class, and its estimate for a class it has not
// seen run there (the node's learned factor), are within 20 % of the truth.
// Before any completion both are the declared speed.
func TestLearnedRatesConvergeWithinTwentyCompletions(t *testing.T) {
	for _, truth := range []float64{0.3, 3} {
		f := NewView(Link{RTT: 0.06, Up: 2.5e6, Down: 2.5e6}, ViewOptions{})
		i := f.AddNode(NodeSpec{ID: "pi", Tier: TierEdge, Cores: 1, Speed: 1, RTT: 0.002, Bandwidth: 12.5e6})
		const seen, unseen = 1, 2
		if r := f.Rate(i, seen); r != 1 {
			t.Fatalf("×%v: rate %v before any completion, want the declared 1", truth, r)
		}
		rng := rand.New(rand.NewPCG(7, uint64(truth*10)))
		for k := range 20 {
			task := &Task{ID: uint64(k + 1), Class: seen, Work: 10, Source: -1}
			f.Assign(i, task, float64(k))
			f.Started(i, task.ID, float64(k))
			ran := task.Work / truth * math.Exp(0.2*rng.NormFloat64())
			f.Completed(i, task.ID, task.Work, ran, float64(k)+ran)
		}
		for _, c := range []struct {
			class int
			what  string
		}{{seen, "its class"}, {unseen, "another class"}} {
			if r := f.Rate(i, c.class); math.Abs(r/truth-1) > 0.2 {
				t.Errorf("×%v: after 20 completions the rate for %s is %.3f, more than 20 %% off", truth, c.what, r)
			}
		}
	}
}

// TestRateQuantileCoversNineRunsInTen: with run times off the truth by a
// lognormal error of σ = 0.25, a run planned on RateQuantile (learned from
// the runs before it) takes longer than planned in about one case in ten —
// between 3 % and 20 % of 300 runs — while one planned on the mean Rate does
// in about half. Without spread the quantile comes back to the mean.
func TestRateQuantileCoversNineRunsInTen(t *testing.T) {
	f := NewView(Link{RTT: 0.06, Up: 2.5e6, Down: 2.5e6}, ViewOptions{})
	i := f.AddNode(NodeSpec{ID: "pi", Tier: TierEdge, Cores: 1, Speed: 1})
	rng := rand.New(rand.NewPCG(3, 4))
	const work, truth = 10.0, 1.0
	var overQ, overMean, n int
	for k := range 330 {
		task := &Task{ID: uint64(k + 1), Class: 1, Work: work, Source: -1}
		plannedQ, plannedMean := work/f.RateQuantile(i, 1), work/f.Rate(i, 1)
		f.Assign(i, task, float64(k))
		f.Started(i, task.ID, float64(k))
		ran := work / truth * math.Exp(0.25*rng.NormFloat64())
		f.Completed(i, task.ID, work, ran, float64(k)+ran)
		if k < 30 {
			continue // learning
		}
		n++
		if ran > plannedQ {
			overQ++
		}
		if ran > plannedMean {
			overMean++
		}
	}
	t.Logf("runs outlasting the plan: %d of %d on the quantile, %d on the mean", overQ, n, overMean)
	if share := float64(overQ) / float64(n); share < 0.03 || share > 0.2 {
		t.Errorf("%d of %d runs outlasted the quantile plan (%.0f %%), want about 10 %%", overQ, n, 100*share)
	}
	if share := float64(overMean) / float64(n); share < 0.3 {
		t.Errorf("only %d of %d runs outlasted the mean plan: the test's spread is too small to tell", overMean, n)
	}
	steady := NewView(Link{RTT: 0.06, Up: 2.5e6, Down: 2.5e6}, ViewOptions{})
	j := steady.AddNode(NodeSpec{ID: "pi", Tier: TierEdge, Cores: 1, Speed: 1})
	for k := range 30 {
		task := &Task{ID: uint64(k + 1), Class: 1, Work: work, Source: -1}
		steady.Assign(j, task, float64(k))
		steady.Started(j, task.ID, float64(k))
		steady.Completed(j, task.ID, work, work/2, float64(k)+5)
	}
	if q, r := steady.RateQuantile(j, 1), steady.Rate(j, 1); q < 0.99*r || q > r {
		t.Errorf("runs of one length: quantile rate %v, mean %v", q, r)
	}
}
