package place

import (
	"math/rand/v2"
	"testing"
)

// seeded returns a random source for a property test and logs its seed so a failure can be
// replayed with -seed (see TestMain-free convention: the seed is printed, then reused).
func seeded(t testing.TB, seed uint64) *rand.Rand {
	t.Helper()
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, seed^0x5eed))
}

// edgeNode is a 4-core edge node at the site with a gigabit LAN.
func edgeNode(id string, speed float64) NodeSpec {
	return NodeSpec{ID: id, Tier: TierEdge, Cores: 4, Speed: speed, MemBytes: 4 << 30, RTT: 0.001, Bandwidth: 100e6}
}

// cloudPool is an elastic cloud candidate behind the WAN.
func cloudPool() NodeSpec {
	return NodeSpec{ID: "cloud", Tier: TierCloud, Cores: 64, Speed: 2.4, MemBytes: 64 << 30, PricePerCPUSecond: 0.01}
}

// wan is a 20 Mbit/s, 60 ms WAN.
var wan = Link{RTT: 0.06, Up: 2.5e6, Down: 2.5e6}

// fleetOf builds a fleet from nodes.
func fleetOf(nodes ...NodeSpec) *View {
	f := NewView(wan, ViewOptions{})
	for _, n := range nodes {
		f.AddNode(n)
	}
	return f
}

// task returns a site-sourced task of class 0 with the given work.
func task(id uint64, work float64) *Task {
	return &Task{ID: id, Work: work, Source: -1}
}
