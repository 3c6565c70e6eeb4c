package collect

import (
	"context"
	"testing"
)

// A boot time outside the protocol's window (a clock set centuries off) is
// left out of the facts: the scheduler would refuse every birth carrying it.
func TestFactsLeaveOutABootTimeTheProtocolRefuses(t *testing.T) {
	for _, bt := range []uint64{1 << 62, 1<<64 - 1} {
		root := copyTree(t, "pi4")
		sys := newFixtureSystem(root, "pi4")
		sys.info.BootTime = bt
		c := newCollectorOn(t, sys, fixtureOptions(root, newFakeClock()))
		f, err := c.Facts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !f.BootTime.IsZero() {
			t.Errorf("btime %d: boot_time %v, want none", bt, f.BootTime)
		}
	}
}
