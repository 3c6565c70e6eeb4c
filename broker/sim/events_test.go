package sim

import "testing"

// TestTaskEventsArriveLateButAllArrive: with task events delayed and half their deliveries
// lost (each resent later), every finish still reaches the scheduler — its record of every
// node is empty at the end, however the run ended — and a central queue, which reuses a slot only once it hears the
// slot is free, is measurably slower than with prompt events.
func TestTaskEventsArriveLateButAllArrive(t *testing.T) {
	means := map[string]float64{}
	for _, tc := range []struct {
		name               string
		delay, loss, retry float64
	}{{"prompt", 0, 0, 5}, {"late", 1, 0.2, 3}} {
		for _, p := range []string{"fifo", "tether"} {
			cfg := small()
			cfg.Crashes = false
			cfg.EventDelay, cfg.EventLoss, cfg.EventRetry = tc.delay, tc.loss, tc.retry
			w := run(t, &cfg, cell{Mix: "ecs", Load: 0.7, Stale: 2, Policy: p, Seed: 2})
			r := w.measure()
			for i := range w.nodes {
				if o := w.fleet.Outstanding(i); o > 1e-9 {
					t.Errorf("%s %s: the scheduler still records %.3g units on %s", tc.name, p, o, w.fleet.Node(i).ID)
				}
			}
			if r.Unfinished != 0 {
				t.Errorf("%s %s: %d tasks unfinished", tc.name, p, r.Unfinished)
			}
			means[tc.name+" "+p] = r.Mean
			t.Logf("%s %s: mean %.2f s, p99 %.2f s, miss %.2f %%", tc.name, p, r.Mean, r.P99, 100*r.Miss)
		}
	}
	if means["late fifo"] < means["prompt fifo"]+0.5 {
		t.Errorf("fifo with late task events: mean %.2f s, prompt %.2f s", means["late fifo"], means["prompt fifo"])
	}
}
