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
		i := f.AddNode(Node{ID: "pi", Tier: TierEdge, Cores: 1, Speed: 1, RTT: 0.002, Bandwidth: 12.5e6})
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
