package place

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// What the live scheduler needs beyond the simulator: a caller's own constraint (Allow),
// input in the cloud tier, per-node cloud paths, nodes offline within their grace, changed
// facts, and rates learned from the node's own measurement.

func TestAllowConstrainsEveryDispatchPolicy(t *testing.T) {
	for _, name := range []string{"rr", "random", "wrandom", "least-loaded", "least-work", "p2c", "tether"} {
		t.Run(name, func(t *testing.T) {
			f := fleetOf(edgeNode("a", 1), edgeNode("b", 2), edgeNode("c", 1), cloudPool())
			p, err := NewRegistry().New(name, Env{Rand: seeded(t, 1)})
			if err != nil {
				t.Fatal(err)
			}
			only := 2
			tk := &Task{ID: 1, Work: 1, Source: -1, Allow: func(i int) bool { return i == only }}
			for k := 0; k < 20; k++ {
				if got := p.Dispatcher.Pick(f, tk, 0).Node; got != only {
					t.Fatalf("pick %d: node %d, want the only allowed node %d", k, got, only)
				}
			}
			tk.Allow = func(int) bool { return false }
			if got := p.Dispatcher.Pick(f, tk, 0).Node; got != -1 {
				t.Errorf("nothing allowed: picked %d, want -1", got)
			}
		})
	}
}

func TestInputInTheCloud(t *testing.T) {
	f := fleetOf(edgeNode("pi", 1), cloudPool())
	tk := &Task{ID: 1, Work: 2, InBytes: 1e6, OutBytes: 1e5, Source: SourceCloud}
	// Cloud: nothing moves, and nothing waits for the WAN.
	f.Assign(1, &Task{ID: 9, Work: 1, InBytes: 5e6, Source: -1}, 0) // a 2 s upload booked
	if got, want := Completion(f, f, 1, tk, 0), 2/2.4; !near(got, want) {
		t.Errorf("cloud completion = %v, want %v (compute only)", got, want)
	}
	// Edge: down the WAN, then over the LAN: 0.06 + 0.001 + 1e6/2.5e6; back the same way up.
	want := (0.061 + 0.4) + 2 + (0.061 + 1e5/2.5e6)
	if got := Completion(f, f, 0, tk, 0); !near(got, want) {
		t.Errorf("edge completion = %v, want %v", got, want)
	}
	// A cloud assignment of cloud-held input books nothing on the WAN.
	before := f.WANUpFreeAt(0)
	f.Assign(1, tk, 0)
	if after := f.WANUpFreeAt(0); after != before {
		t.Errorf("WAN uplink booked until %v, was %v", after, before)
	}
	p := NewTether(seeded(t, 1), TetherOptions{})
	if got := p.Pick(f, &Task{ID: 2, Work: 2, InBytes: 20e6, Source: SourceCloud}, 0).Node; got != 1 {
		t.Errorf("20 MB held in the cloud: picked %d, want the cloud (1)", got)
	}
}

// TestCloudInputComesDownBehindTheDownlink: input held in the cloud, or on a cloud node,
// that goes to an edge node is booked on the WAN's downlink, and the next such input waits
// behind it; its result is booked on the uplink. Before, neither was booked, and the second
// 10 MB download was estimated to take as long as the first.
func TestCloudInputComesDownBehindTheDownlink(t *testing.T) {
	for _, src := range []struct {
		name   string
		source int
	}{{"the cloud tier", SourceCloud}, {"a cloud node", 2}} {
		t.Run(src.name, func(t *testing.T) {
			f := fleetOf(edgeNode("pi", 1), edgeNode("pj", 1), cloudPool())
			first := &Task{ID: 1, Work: 1, InBytes: 10e6, OutBytes: 1e6, Source: src.source}
			second := &Task{ID: 2, Work: 1, InBytes: 10e6, OutBytes: 1e6, Source: src.source}
			alone := Completion(f, f, 1, second, 0)
			f.Assign(0, first, 0)
			if got, want := f.WANDownFreeAt(0), 10e6/wan.Down; !near(got, want) {
				t.Errorf("downlink booked until %v, want %v (10 MB at 2.5 MB/s)", got, want)
			}
			if got, want := f.WANUpFreeAt(0), 1e6/wan.Up; !near(got, want) {
				t.Errorf("uplink booked until %v, want %v (the 1 MB result)", got, want)
			}
			if got, want := Completion(f, f, 1, second, 0), alone+10e6/wan.Down; !near(got, want) {
				t.Errorf("second download done at %v, want %v: behind the first (alone %v)", got, want, alone)
			}
			// The cloud node itself needs nothing from the WAN for cloud-tier input.
			if src.source == SourceCloud {
				if got, want := Completion(f, f, 2, second, 0), 1/2.4; !near(got, want) {
					t.Errorf("on the cloud: %v, want %v", got, want)
				}
			}
		})
	}
}

func TestCloudNodeOwnPath(t *testing.T) {
	far := cloudPool()
	far.RTT, far.Bandwidth = 0.2, 1e6 // a farther region behind 8 Mbit/s
	f := fleetOf(edgeNode("pi", 1), far)
	tk := &Task{ID: 1, Work: 2, InBytes: 1e6, OutBytes: 1e5, Source: -1}
	want := (0.2 + 1) + 2/2.4 + (0.2 + 0.1)
	if got := Completion(f, f, 1, tk, 0); !near(got, want) {
		t.Errorf("completion = %v, want %v", got, want)
	}
	f.Assign(1, tk, 0)
	if got := f.WANUpFreeAt(0); !near(got, 1) {
		t.Errorf("uplink booked until %v, want 1 (1 MB at the node's 1 MB/s)", got)
	}
}

func TestOfflineKeepsTheRecord(t *testing.T) {
	f := fleetOf(edgeNode("a", 1), edgeNode("b", 1))
	f.Assign(0, task(1, 3), 0)
	f.Started(0, 1, 0)
	f.Offline(0, 1)
	if f.Up(0) || f.FreeSlots(0) != 0 {
		t.Fatalf("offline node up %v with %d free slots", f.Up(0), f.FreeSlots(0))
	}
	p := NewTether(seeded(t, 1), TetherOptions{})
	for k := uint64(2); k < 10; k++ {
		if got := p.Pick(f, task(k, 0.1), 1).Node; got != 1 {
			t.Fatalf("picked %d while node 0 is offline", got)
		}
	}
	if f.Outstanding(0) != 3 || f.Assigned(0) != 1 {
		t.Fatalf("offline node kept %v work in %d tasks, want 3 in 1", f.Outstanding(0), f.Assigned(0))
	}
	f.Revive(0, 2)
	if f.Outstanding(0) != 3 || f.FreeSlots(0) != 3 {
		t.Fatalf("revived node has %v work and %d free slots, want 3 and 3", f.Outstanding(0), f.FreeSlots(0))
	}
	f.Offline(0, 2)
	f.Finished(0, 1, 3) // its end still applies, and teaches the rate
	if f.Outstanding(0) != 0 || !near(f.Rate(0, 0), 1) {
		t.Errorf("after its end: outstanding %v, rate %v", f.Outstanding(0), f.Rate(0, 0))
	}
}

func TestRedeclare(t *testing.T) {
	f := fleetOf(edgeNode("a", 1), edgeNode("b", 1), cloudPool())
	f.Assign(1, task(1, 2), 0)
	n := *f.Node(1)
	n.Tier, n.Cores = TierCloud, 16
	f.Redeclare(1, n, 0)
	if diff := cmp.Diff([]int{0}, f.Edge()); diff != "" {
		t.Errorf("edge (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{1, 2}, f.Cloud()); diff != "" {
		t.Errorf("cloud (-want +got):\n%s", diff)
	}
	if f.Outstanding(1) != 2 || f.FreeSlots(1) != 15 {
		t.Errorf("redeclared node: %v work, %d free slots; want 2 and 15", f.Outstanding(1), f.FreeSlots(1))
	}
	// Only edge nodes are in the edge indexes: an edge-only task never lands on node 1.
	p := NewTether(seeded(t, 1), TetherOptions{})
	edgeOnly := MaskOf(TierEdge)
	for k := uint64(2); k < 10; k++ {
		tk := &Task{ID: k, Work: 1, Source: -1, Tiers: edgeOnly}
		d := p.Pick(f, tk, 0)
		if d.Node != 0 {
			t.Fatalf("edge-only task placed on %d", d.Node)
		}
		f.Assign(d.Node, tk, 0)
	}
	// Back to the edge, twice as fast: the factor learned against the old speed is reset.
	f.Started(1, 1, 0)
	f.Finished(1, 1, 4) // 2 units in 4 s: half the declared speed
	n.Tier, n.Cores, n.Speed = TierEdge, 4, 2
	f.Redeclare(1, n, 4)
	if diff := cmp.Diff([]int{0, 1}, f.Edge()); diff != "" {
		t.Errorf("edge (-want +got):\n%s", diff)
	}
	if got := f.Rate(1, 1); !near(got, 2) {
		t.Errorf("unseen class on the redeclared node: rate %v, want the new declared 2", got)
	}
	if got := f.Rate(1, 0); !near(got, 0.5) {
		t.Errorf("learned class 0: rate %v, want 0.5 kept", got)
	}
}

func TestCompletedLearnsFromTheNodesMeasurement(t *testing.T) {
	f := fleetOf(edgeNode("pi", 1))
	f.Assign(0, task(1, 2), 0)
	f.Started(0, 1, 0)
	// The end reached the scheduler 10 s after the start (a backed-up link); the node says
	// the task ran 1 s.
	f.Completed(0, 1, 0, 1, 10)
	if got := f.Rate(0, 0); !near(got, 2) {
		t.Errorf("rate = %v, want 2 (2 units in 1 s)", got)
	}
	// Work done may differ from what was recorded (a resume on the node): 1 unit in 2 s.
	f.Assign(0, task(2, 2), 10)
	f.Completed(0, 2, 1, 2, 12)
	if got, want := f.Rate(0, 0), 2+0.3*(0.5-2); !near(got, want) {
		t.Errorf("rate = %v, want %v", got, want)
	}
	if f.Assigned(0) != 0 {
		t.Errorf("%d tasks left", f.Assigned(0))
	}
}

func TestHasFreeSlot(t *testing.T) {
	n := edgeNode("a", 1)
	n.Cores = 1
	c := cloudPool()
	c.Cores = 1
	f := fleetOf(n, c)
	if !f.HasFreeSlot() {
		t.Fatal("an idle fleet has no free slot")
	}
	f.Assign(0, task(1, 1), 0)
	if !f.HasFreeSlot() {
		t.Fatal("the cloud's slot is free")
	}
	f.Assign(1, task(2, 1), 0)
	if f.HasFreeSlot() {
		t.Fatal("every slot is taken")
	}
	f.Finished(1, 2, 1)
	f.Offline(1, 1)
	if f.HasFreeSlot() {
		t.Fatal("an offline node's slot counted")
	}
	f.Revive(1, 2)
	if !f.HasFreeSlot() {
		t.Fatal("the revived cloud node's slot is free")
	}
}
