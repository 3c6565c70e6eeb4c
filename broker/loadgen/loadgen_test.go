package loadgen

import (
	"testing"
	"time"
)

// TestSmallFleetLosesNothing runs 50 simulated agents against a real
// scheduler with its embedded broker, reporting every second, through a
// connect storm, a mass drop and reconnect and a graceful stop: every
// message the broker acknowledged reaches the monitor and the scheduler's
// table, every node comes back, every goodbye is applied, and a new monitor
// gets every retained status.
func TestSmallFleetLosesNothing(t *testing.T) {
	t.Parallel()
	r := startRegion(t, 50)
	res := r.run(t, Options{Report: time.Second, Heartbeat: 3 * time.Second, Steady: 8 * time.Second, Drop: true, Settle: 60 * time.Second})
	check(t, res)
}

func check(t *testing.T, res Result) {
	t.Helper()
	if res.StormClient < 0 || res.StormFleet < 0 {
		t.Errorf("connect storm did not complete: births acked %v, fleet %v", res.StormClient, res.StormFleet)
	}
	if res.DropClient < 0 || res.DropFleet < 0 {
		t.Errorf("mass reconnect did not complete: births acked %v, fleet %v", res.DropClient, res.DropFleet)
	}
	if res.Made == 0 || res.Acked == 0 {
		t.Errorf("nothing made (%d) or acknowledged (%d)", res.Made, res.Acked)
	}
	if res.Lost() != 0 {
		t.Errorf("%d acknowledged messages lost: monitor %d, scheduler gaps %d, behind %d, rows missing %d, goodbyes not applied %d",
			res.Lost(), res.LostMonitor, res.Gaps, res.Behind, res.MissingRows, res.GoodbyesLost)
	}
	if res.Goodbyes != res.Sessions {
		t.Errorf("%d of %d goodbyes acknowledged", res.Goodbyes, res.Sessions)
	}
	if res.Retained != res.Sessions {
		t.Errorf("a new monitor got %d of %d retained statuses", res.Retained, res.Sessions)
	}
}
