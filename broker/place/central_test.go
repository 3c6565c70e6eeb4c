package place

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// oneCore returns a fleet with a single one-core node of speed 1 and a central policy on it.
func oneCore(order Order, opt CentralOptions) (*View, *Central) {
	n := edgeNode("solo", 1)
	n.Cores = 1
	f := fleetOf(n)
	c := NewCentral("test", order, opt)
	c.NodeUp(f, 0, 0, nil)
	return f, c
}

// summary renders actions as short strings for cmp.
func summary(acts []Action) []string {
	var s []string
	for _, a := range acts {
		switch a.Kind {
		case Bind:
			s = append(s, "bind "+string(rune('0'+a.Task.ID)))
		case Preempt:
			s = append(s, "preempt "+string(rune('0'+a.TaskID)))
		case Reject:
			s = append(s, "reject "+string(rune('0'+a.Task.ID)))
		}
	}
	return s
}

// drain finishes whatever runs on node 0 and returns the order tasks were bound in.
func drain(f *View, c *Central, acts []Action, now float64) []string {
	var order []string
	for len(acts) > 0 {
		a := acts[0]
		acts = acts[1:]
		order = append(order, summary([]Action{a})...)
		if a.Kind == Bind {
			f.Started(0, a.Task.ID, now)
			f.Finished(0, a.Task.ID, now+1)
			acts = append(acts, c.SlotFreed(f, 0, now+1, nil)...)
		}
	}
	return order
}

func TestCentralOrders(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order Order
		want  []string
	}{
		{"fifo", OrderFIFO, []string{"bind 1", "bind 2", "bind 3", "bind 4"}},
		{"sjf", OrderSJF, []string{"bind 1", "bind 4", "bind 3", "bind 2"}},
		{"priority", OrderPriority, []string{"bind 1", "bind 3", "bind 2", "bind 4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c := oneCore(tc.order, CentralOptions{Aging: 100})
			var acts []Action
			for id, w := range []float64{5, 3, 2, 1} {
				tk := &Task{ID: uint64(id + 1), Work: w, Source: -1, Arrival: float64(id),
					Priority: []int{0, 1, 9, 0}[id]}
				acts = c.Submit(f, tk, float64(id), acts)
			}
			if diff := cmp.Diff(tc.want, drain(f, c, acts, 10)); diff != "" {
				t.Errorf("bind order (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSRTFPreemptsOnlyCheckpointableLongerTasks(t *testing.T) {
	f, c := oneCore(OrderSRTF, CentralOptions{})
	long := &Task{ID: 1, Work: 10, Source: -1, Checkpointable: true}
	acts := c.Submit(f, long, 0, nil)
	f.Started(0, 1, 0)
	// At t=2 the long task has ~8 units left; a 1-unit task preempts it.
	acts = c.Submit(f, &Task{ID: 2, Work: 1, Source: -1, Arrival: 2}, 2, acts[:0])
	if diff := cmp.Diff([]string{"preempt 1", "bind 2"}, summary(acts)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	// The preempted task comes back with its remaining work and waits for the slot.
	long.Remaining = 8
	if acts = c.Requeue(f, long, 2, acts[:0]); len(acts) != 0 || c.Len() != 1 {
		t.Fatalf("requeue bound %v with no free slot", summary(acts))
	}
	f.Started(0, 2, 2)
	// A task that cannot be checkpointed is never preempted.
	f2, c2 := oneCore(OrderSRTF, CentralOptions{})
	c2.Submit(f2, &Task{ID: 1, Work: 10, Source: -1}, 0, nil)
	f2.Started(0, 1, 0)
	if acts := c2.Submit(f2, &Task{ID: 2, Work: 1, Source: -1}, 1, nil); len(acts) != 0 {
		t.Errorf("preempted a non-checkpointable task: %v", summary(acts))
	}
}

func TestEDFAdmissionControl(t *testing.T) {
	f, c := oneCore(OrderEDF, CentralOptions{}) // capacity: 1 work unit per second
	var got []string
	submit := func(id uint64, work, deadline float64) {
		got = append(got, summary(c.Submit(f, &Task{ID: id, Work: work, Source: -1, Deadline: deadline}, 0, nil))...)
	}
	submit(1, 5, 10)  // runs at once
	submit(2, 3, 6)   // 5 + 3 = 8 > 6: rejected
	submit(3, 3, 20)  // 8 ≤ 20: queued
	submit(4, 10, 12) // ahead of 3: 5 + 10 = 15 > 12: rejected
	submit(5, 2, 9)   // 7 ≤ 9, and task 3 still ends by 10 ≤ 20: queued
	submit(6, 11, 15) // ahead of 3: 5+2+11 = 18 > 15: rejected
	submit(7, 1, 0)   // no deadline: always admitted
	want := []string{"bind 1", "reject 2", "reject 4", "reject 6"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("admission (-want +got):\n%s", diff)
	}
	if c.Len() != 3 {
		t.Errorf("queue holds %d tasks, want 3 (tasks 3, 5, 7)", c.Len())
	}
}

// A low-priority task facing an endless stream of high-priority ones: with aging it runs
// within (priority gap × aging) seconds; without aging it starves.
func TestPriorityAgingPreventsStarvation(t *testing.T) {
	boundAt := func(aging float64) float64 {
		f, c := oneCore(OrderPriority, CentralOptions{Aging: aging})
		acts := c.Submit(f, &Task{ID: 100, Work: 1, Source: -1, Arrival: 0, Priority: 3}, 0, nil)
		c.Submit(f, &Task{ID: 1, Work: 1, Source: -1, Arrival: 0, Priority: 0}, 0, nil)
		running := acts[0].Task.ID
		f.Started(0, running, 0)
		for now := 1.0; now <= 200; now++ {
			hi := &Task{ID: uint64(100 + now), Work: 1, Source: -1, Arrival: now, Priority: 3}
			c.Submit(f, hi, now, nil)
			f.Finished(0, running, now)
			next := c.SlotFreed(f, 0, now, nil)
			running = next[0].Task.ID
			if running == 1 {
				return now
			}
			f.Started(0, running, now)
		}
		return -1
	}
	if at := boundAt(10); at < 0 || at > 31 {
		t.Errorf("with 10 s aging the low-priority task ran at %v, want by 31 (3 levels × 10 s)", at)
	}
	if at := boundAt(1e6); at != -1 {
		t.Errorf("without aging the low-priority task ran at %v; the test no longer shows starvation", at)
	}
}

func TestRegistryBuildsEveryPolicy(t *testing.T) {
	r := NewRegistry()
	want := []string{"edf", "fifo", "least-loaded", "least-work", "oracle", "p2c", "priority",
		"random", "rr", "sjf", "srtf", "tether", "wrandom"}
	if diff := cmp.Diff(want, r.Names()); diff != "" {
		t.Fatalf("names (-want +got):\n%s", diff)
	}
	f := fleetOf(edgeNode("a", 1))
	for _, name := range want {
		p, err := r.New(name, Env{Rand: seeded(t, 1), Truth: f})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.Name() != name || (p.Dispatcher == nil) == (p.Central == nil) {
			t.Errorf("%s: got %q with dispatcher %v central %v", name, p.Name(), p.Dispatcher != nil, p.Central != nil)
		}
	}
	if _, err := r.New("nope", Env{}); err == nil {
		t.Error("unknown policy: no error")
	}
	if _, err := r.New("oracle", Env{}); err == nil {
		t.Error("oracle without truth: no error")
	}
}

// TestSRTFPreemptsRatherThanSendBehindTheWAN: with the one edge core busy on a long
// checkpointable task and a free cloud slot behind a WAN that would take seconds to carry the
// input, SRTF preempts the long task for a short one; with a light input, where the cloud is
// sooner, it takes the cloud slot and preempts nothing.
func TestSRTFPreemptsRatherThanSendBehindTheWAN(t *testing.T) {
	for _, tc := range []struct {
		name    string
		inBytes float64
		want    []string
	}{
		{"heavy input", 10e6, []string{"preempt 1", "bind 2"}}, // 4 s over the WAN
		{"light input", 1e3, []string{"bind 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := edgeNode("solo", 1)
			n.Cores = 1
			f := fleetOf(n, cloudPool())
			c := NewCentral("srtf", OrderSRTF, CentralOptions{})
			c.NodeUp(f, 0, 0, nil)
			c.NodeUp(f, 1, 0, nil)
			long := &Task{ID: 1, Work: 20, Source: -1, Checkpointable: true, Tiers: MaskOf(TierEdge)}
			if acts := c.Submit(f, long, 0, nil); len(acts) != 1 || acts[0].Node != 0 {
				t.Fatalf("long task: %v", summary(acts))
			}
			f.Started(0, 1, 0)
			short := &Task{ID: 2, Work: 2, Source: -1, Arrival: 1, InBytes: tc.inBytes}
			acts := c.Submit(f, short, 1, nil)
			if diff := cmp.Diff(tc.want, summary(acts)); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
}
