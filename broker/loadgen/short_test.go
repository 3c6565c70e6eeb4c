package loadgen

import (
	"testing"
	"time"
)

// TestFleetOf1000LosesNothing is `make load`'s short form: 1,000 agents
// reporting every 2 s against a real scheduler with its embedded broker,
// a connect storm, 30 s steady, a mass drop and reconnect, 30 s steady, a
// graceful stop — not one acknowledged message lost.
func TestFleetOf1000LosesNothing(t *testing.T) {
	t.Parallel()
	r := startRegion(t, 1000)
	res := r.run(t, Options{Report: 2 * time.Second, Heartbeat: 6 * time.Second, Steady: 30 * time.Second, Drop: true, Settle: 90 * time.Second})
	check(t, res)
}
