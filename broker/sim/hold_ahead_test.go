package sim

import (
	"strings"
	"testing"

	"github.com/tether-edge/tether/broker/place"
)

// TestHoldPrefetchHidesTheTransfer: with -hold-prefetch a task held behind a busy slot has
// its input fetched to the node while it waits, unassigned, and starts as soon as the slot
// frees; without it the slot idles while the input travels (1 s of 12.5 MB over 100 Mbit/s).
func TestHoldPrefetchHidesTheTransfer(t *testing.T) {
	for _, prefetch := range []bool{false, true} {
		w := bareWorld(t, "tether", false, bareNode{"pi", 1, 1, 4096})
		w.cfg.HoldPrefetch = prefetch
		long := w.add(place.Task{Work: 10})
		next := w.add(place.Task{Work: 1, InBytes: 12.5e6})
		w.runUntil(5)
		if next.state != jsWaiting || w.fleet.Assigned(0) != 1 || len(w.nodes[0].pending) != 0 {
			t.Fatalf("prefetch %v: at 5 s the next task is in state %d, the node has %d tasks assigned, %d inputs on their way: want it held, 1, 0",
				prefetch, next.state, w.fleet.Assigned(0), len(w.nodes[0].pending))
		}
		w.runUntil(20)
		if long.state != jsDone || next.state != jsDone {
			t.Fatalf("prefetch %v: states %d and %d, want both done", prefetch, long.state, next.state)
		}
		want := 11.004 // the long task runs from 0.002 s to 10.002 s; the input takes 1.002 s
		if prefetch {
			want = 10.004 // only the assignment's way to the node
		}
		if next.began < want-1e-3 || next.began > want+1e-3 {
			t.Errorf("prefetch %v: the next task started at %.4f s, want %.4f s", prefetch, next.began, want)
		}
	}
}

// TestHoldCloudPickTakesTheMostWorkPerByte: with -hold-cloud-pick the cloud slot that frees
// goes to the held task with the most work per WAN byte, not the first by priority; the
// edge stays with the rest.
func TestHoldCloudPickTakesTheMostWorkPerByte(t *testing.T) {
	for _, pick := range []bool{false, true} {
		w := bareWorld(t, "tether", false, bareNode{"pi", 1, 1, 4096})
		p := Profiles()["cloud"]
		p.Cores = 1
		w.cloud = w.addNode(p, "cloud")
		w.ev = w.ev[:0]
		w.cfg.HoldCloudPick = pick
		edge, cloud := place.MaskOf(place.TierEdge), place.MaskOf(place.TierCloud)
		w.add(place.Task{Work: 100, Tiers: edge})
		w.add(place.Task{Work: 10, Tiers: cloud})
		heavy := w.add(place.Task{Work: 2, InBytes: 5e6, Priority: 3})
		light := w.add(place.Task{Work: 2, InBytes: 25e3, Priority: 1})
		if heavy.state != jsWaiting || light.state != jsWaiting {
			t.Fatalf("pick %v: states %d and %d, want both held", pick, heavy.state, light.state)
		}
		w.runUntil(5) // the cloud task ends at about 4.53 s, the slot goes to one of them
		want, other := heavy, light
		if pick {
			want, other = light, heavy
		}
		if want.node != w.cloud || other.state != jsWaiting {
			t.Errorf("pick %v: the task with %.0f bytes is on node %d, the other in state %d; want it on the cloud (%d), the other held",
				pick, want.task.InBytes, want.node, other.state, w.cloud)
		}
	}
}

// TestHoldWaitKeepsADeadlineForABusyNode: with -hold-wait a deadline task that a free slow
// slot would finish late waits for the busy fast node that finishes it in time; without it,
// it takes the free slot and is late.
func TestHoldWaitKeepsADeadlineForABusyNode(t *testing.T) {
	for _, wait := range []bool{false, true} {
		w := bareWorld(t, "tether", false, bareNode{"fast", 1, 4, 4096}, bareNode{"slow", 1, 0.2, 4096})
		w.cfg.HoldWait = wait
		first := w.add(place.Task{Work: 4}) // 1 s on the fast node
		urgent := w.add(place.Task{Work: 1, Deadline: 3})
		if first.node != 0 {
			t.Fatalf("wait %v: the first task is on node %d, want the fast one", wait, first.node)
		}
		if held := urgent.state == jsWaiting; held != wait {
			t.Errorf("wait %v: the urgent task in state %d, want held %v", wait, urgent.state, wait)
		}
		w.runUntil(20)
		wantNode := 1 // 5 s on the slow node: late
		if wait {
			wantNode = 0 // 0.25 s on the fast node after its 1 s task: in time
		}
		if urgent.node != wantNode || urgent.late() == wait || urgent.state != jsDone {
			t.Errorf("wait %v: the urgent task ran on node %d, done at %.3f s (due 3): want node %d, late %v",
				wait, urgent.node, urgent.done, wantNode, !wait)
		}
	}
}

// TestHoldCloudPickCountsOnlyWhatCrossesTheWAN: a held task whose input lives in the cloud
// moves nothing over the WAN there, so the free cloud slot goes to it before a task with a
// small upload from the site.
func TestHoldCloudPickCountsOnlyWhatCrossesTheWAN(t *testing.T) {
	w := bareWorld(t, "tether", false, bareNode{"pi", 1, 1, 4096})
	p := Profiles()["cloud"]
	p.Cores = 1
	w.cloud = w.addNode(p, "cloud")
	w.ev = w.ev[:0]
	w.cfg.HoldCloudPick = true
	w.add(place.Task{Work: 100, Tiers: place.MaskOf(place.TierEdge)})
	w.add(place.Task{Work: 10, Tiers: place.MaskOf(place.TierCloud)})
	site := w.add(place.Task{Work: 2, InBytes: 25e3, Priority: 3})
	inCloud := &job{node: -1, scale: 1, measured: true,
		task: place.Task{ID: uint64(len(w.jobs) + 1), Work: 2, InBytes: 5e6, Source: place.SourceCloud, Priority: 1}}
	w.jobs = append(w.jobs, inCloud)
	w.live++
	w.submit(inCloud)
	w.runUntil(5) // the cloud task ends at about 4.53 s
	if inCloud.node != w.cloud || site.state != jsWaiting {
		t.Errorf("the task with its input in the cloud is on node %d, the other in state %d; want it on the cloud (%d), the other held",
			inCloud.node, site.state, w.cloud)
	}
}

// TestHoldFlagsKeepTheAdmissionContract: with all three -hold flags, on ecs at load 0.9, the
// scheduler never has more tasks on a node than its slots, and no task ever waits in a
// node's own queue: hints move inputs, not tasks.
func TestHoldFlagsKeepTheAdmissionContract(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Horizon, cfg.Warmup = 120, 10
	cfg.HoldPrefetch, cfg.HoldCloudPick, cfg.HoldWait = true, true, true
	w, err := newWorld(&cfg, cell{Mix: "ecs", Load: 0.9, Stale: 2, Policy: "tether", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	hinted, placed := 0, 0
	for len(w.ev) > 0 {
		e := w.ev.pop()
		if e.at > 2*cfg.Horizon {
			break
		}
		w.now = e.at
		w.handle(e)
		for i := range w.nodes {
			if got, slots := w.fleet.Assigned(i), w.nodes[i].prof.Cores; got > slots || len(w.nodes[i].queue) > 0 {
				t.Fatalf("at %.3f s node %d: %d tasks assigned on %d slots, %d waiting in its queue",
					w.now, i, got, slots, len(w.nodes[i].queue))
			}
		}
		for _, j := range w.held {
			if j.hint > 0 {
				hinted++
			}
		}
	}
	for _, j := range w.jobs {
		if j.state == jsDone {
			placed++
		}
	}
	if hinted == 0 || placed == 0 {
		t.Errorf("%d held tasks seen hinted, %d done: the run did not exercise the flags", hinted, placed)
	}
}

// TestHoldFlagsValidate: the -hold flags change the held Tether only, and the cloud pick
// keeps no budget account; Validate says so.
func TestHoldFlagsValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*Config)
		want string // "" valid
	}{
		{"all three held", func(c *Config) { c.HoldPrefetch, c.HoldCloudPick, c.HoldWait = true, true, true }, ""},
		{"with a node queue", func(c *Config) { c.HoldWait, c.NodeQueue = true, 4 }, "-node-queue 0"},
		{"cloud pick with a budget", func(c *Config) { c.HoldCloudPick, c.CloudBudget = true, 1 }, "without -cloud-budget"},
		{"prefetch with a budget", func(c *Config) { c.HoldPrefetch, c.CloudBudget = true, 1 }, ""},
	} {
		cfg := DefaultConfig()
		c.set(&cfg)
		err := cfg.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: Validate() = %v, want %q", c.name, err, c.want)
		}
	}
}
