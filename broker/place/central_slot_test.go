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
