package powerloss

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlanCuts(t *testing.T) {
	for _, n := range []int{0, 1, 4, 10, 200, 1001} {
		a, b := PlanCuts(42, n), PlanCuts(42, n)
		if diff := cmp.Diff(a, b); diff != "" {
			t.Fatalf("n=%d: same seed, different plans:\n%s", n, diff)
		}
		if len(a) != n {
			t.Fatalf("n=%d: %d cuts", n, len(a))
		}
		var count [numPhases]int
		for _, c := range a {
			if c.U < 0 || c.U >= 1 {
				t.Fatalf("U=%v out of [0,1)", c.U)
			}
			count[c.Phase]++
		}
		for p := range numPhases {
			if n >= int(numPhases) && count[p] == 0 {
				t.Errorf("n=%d: no %s cut", n, p)
			}
			if n >= 100 {
				if share := float64(count[p]) / float64(n); share < planWeights[p]-0.01 || share > planWeights[p]+0.01 {
					t.Errorf("n=%d: %s share %.3f, want %.2f", n, p, share, planWeights[p])
				}
			}
		}
	}
	if cmp.Equal(PlanCuts(1, 50), PlanCuts(2, 50)) {
		t.Error("seeds 1 and 2 give the same plan")
	}
}
