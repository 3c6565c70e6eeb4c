package place

import "testing"

// TestCentralBindsToTheSlotTheCostModelChooses: a queue order binds a task to the free slot
// with the earliest estimated completion — the fast node, or the node holding the task's
// data — not to the slot that freed first.
func TestCentralBindsToTheSlotTheCostModelChooses(t *testing.T) {
	for _, order := range []Order{OrderFIFO, OrderSJF, OrderSRTF, OrderPriority} {
		slow, fast := edgeNode("slow", 1), edgeNode("fast", 4)
		slow.Cores, fast.Cores = 1, 1
		f := fleetOf(slow, fast)
		c := NewCentral("test", order, CentralOptions{})
		c.NodeUp(f, 0, 0, nil) // the slow node's slot is offered first
		c.NodeUp(f, 1, 0, nil)
		acts := c.Submit(f, task(1, 8), 0, nil)
		if len(acts) != 1 || acts[0].Kind != Bind || acts[0].Node != 1 {
			t.Errorf("order %d: %+v, want task 1 bound to the fast node 1", order, acts)
		}

		// The task's 100 MB input lives on the slow node: moving it costs more than the
		// fast node saves, so a freed slot there is the better one.
		a, b := edgeNode("a", 1), edgeNode("b", 1.2)
		a.Cores, b.Cores = 1, 1
		f = fleetOf(a, b)
		c = NewCentral("test", order, CentralOptions{})
		c.NodeUp(f, 1, 0, nil)
		c.NodeUp(f, 0, 0, nil)
		tk := task(2, 1)
		tk.Source, tk.InBytes = 0, 100e6
		acts = c.Submit(f, tk, 0, nil)
		if len(acts) != 1 || acts[0].Kind != Bind || acts[0].Node != 0 {
			t.Errorf("order %d: %+v, want task 2 bound to node 0, which holds its data", order, acts)
		}
	}
}

// TestCentralFreedSlotIsNotLeftIdle: when a freed slot's task goes to a better free node, the
// freed slot still takes the next queued task.
func TestCentralFreedSlotIsNotLeftIdle(t *testing.T) {
	slow, fast := edgeNode("slow", 1), edgeNode("fast", 4)
	slow.Cores, fast.Cores = 1, 1
	f := fleetOf(slow, fast)
	c := NewCentral("test", OrderFIFO, CentralOptions{})
	f.Assign(0, task(1, 100), 0)
	f.Assign(1, task(2, 100), 0)
	for id := uint64(3); id <= 4; id++ {
		if acts := c.Submit(f, task(id, 4), 0, nil); len(acts) != 0 {
			t.Fatalf("task %d with no free slot: %+v, want queued", id, acts)
		}
	}
	f.Finished(0, 1, 1)
	f.Finished(1, 2, 1)
	acts := c.SlotFreed(f, 0, 1, nil) // both nodes are free now; the slow one is offered first
	if len(acts) != 2 || f.FreeSlots(0) != 0 || f.FreeSlots(1) != 0 || c.Len() != 0 {
		t.Errorf("%d binds, free slots %d and %d, %d queued: want both tasks bound, one a node",
			len(acts), f.FreeSlots(0), f.FreeSlots(1), c.Len())
	}
}

// TestCentralWaitsRatherThanCloggedCloud: with the edge full and the WAN backed up by earlier
// uploads, a free cloud slot would finish a queued task far later than the edge slot about to
// free, so the task waits and takes that edge slot; with the WAN clear it goes to the cloud.
func TestCentralWaitsRatherThanCloggedCloud(t *testing.T) {
	for _, order := range []Order{OrderFIFO, OrderSJF, OrderSRTF, OrderPriority} {
		for _, clogged := range []bool{true, false} {
			edge := edgeNode("edge", 1)
			edge.Cores = 1
			f := fleetOf(edge, cloudPool())
			c := NewCentral("test", order, CentralOptions{})
			f.Assign(0, task(1, 1), 0) // the edge slot frees in about a second
			f.Started(0, 1, 0)
			if clogged {
				big := task(2, 1)
				big.InBytes = 100e6 // 40 s of the WAN's 2.5 MB/s
				f.Assign(1, big, 0)
			}
			tk := task(3, 2)
			tk.InBytes = 1e6
			acts := c.Submit(f, tk, 0, nil)
			switch {
			case !clogged && (len(acts) != 1 || acts[0].Node != 1):
				t.Errorf("order %d, clear WAN: %+v, want task 3 bound to the cloud at once", order, acts)
			case clogged && len(acts) != 0:
				t.Errorf("order %d, WAN backed up 40 s: %+v, want task 3 to wait for the edge", order, acts)
			case clogged:
				f.Finished(0, 1, 1)
				acts = c.SlotFreed(f, 0, 1, nil)
				if len(acts) != 1 || acts[0].Kind != Bind || acts[0].Node != 0 {
					t.Errorf("order %d: edge slot freed: %+v, want task 3 bound to the edge", order, acts)
				}
			}
		}
	}
}

// TestCentralWaitCountsTheQueueAhead: a task behind enough queued work would wait longer for
// the edge than the cloud takes, so it takes the free cloud slot even though the edge node
// alone frees sooner.
func TestCentralWaitCountsTheQueueAhead(t *testing.T) {
	edge := edgeNode("edge", 1)
	edge.Cores = 1
	f := fleetOf(edge, cloudPool())
	f.Assign(0, task(1, 1), 0)
	f.Started(0, 1, 0)
	big := task(2, 1)
	big.InBytes = 10e6 // 4 s of the WAN
	f.Assign(1, big, 0)
	tk := task(3, 2)
	tk.InBytes = 1e3
	p := NewTether(seeded(t, 1), TetherOptions{})
	if i := SlotRule(f, p, tk, 0, 0); i != -1 {
		t.Errorf("nothing queued ahead: node %d, want a wait for the edge (-1)", i)
	}
	if i := SlotRule(f, p, tk, 20, 0); i != 1 {
		t.Errorf("20 work units queued ahead of a 1-unit/s edge: node %d, want the cloud (1)", i)
	}
}
