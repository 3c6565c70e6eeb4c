package sim

import (
	"context"
	"math"
	"testing"
)

// TestPreemptingOnACrashedNodeLosesNothing crashes every edge node in turn under SRTF at a
// load where slots are scarce. Between a crash and its detection the scheduler still believes
// the node's tasks run, so SRTF may pick one of them as its victim; that task must come back
// when the crash is detected, like the node's other tasks, and not vanish.
func TestPreemptingOnACrashedNodeLosesNothing(t *testing.T) {
	cfg := small()
	cfg.CloudCores = 0
	cfg.Crashes = false // the crashes below are the only ones
	cfg.Horizon, cfg.Warmup = 240, 10
	cfg.DetectAfter, cfg.RebootAfter = 40, 60
	for _, seed := range []uint64{1, 2, 3, 4, 5, 6} {
		w, err := newWorld(&cfg, cell{Mix: "ecs", Load: 0.9, Stale: 2, Policy: "srtf", Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		w.divergeAt = math.MaxInt // the run must reach every detection, however long its queue
		for i := range w.nodes {
			w.push(event{at: 20 + 9*float64(i), kind: evCrash, id: int32(i)})
		}
		if err := w.simulate(context.Background()); err != nil {
			t.Fatal(err)
		}
		lost := 0
		for _, j := range w.jobs {
			if j.state == jsLost {
				lost++
			}
		}
		t.Logf("seed %d: %d tasks, %d preemptions, %d lost after every crash was detected", seed, len(w.jobs), w.preempted, lost)
		if lost > 0 {
			t.Errorf("seed %d: %d tasks lost for good", seed, lost)
		}
	}
}
