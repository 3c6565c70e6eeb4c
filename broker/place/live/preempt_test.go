package live

import (
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
)

// TestVictimLetsADeadlineTaskMeetIt: on one busy single-slot node, a 10 s
// task with a 30 s deadline would wait behind 1,000 s of checkpointable work;
// that running attempt is the victim. Not a victim: a task that cannot be
// checkpointed, one with its own deadline, or any when even a free node
// misses the deadline (a 100 s task due in 30 s), or the task has none.
func TestVictimLetsADeadlineTaskMeetIt(t *testing.T) {
	type running struct {
		id             string
		checkpointable bool
		deadline       time.Duration
	}
	for _, c := range []struct {
		name   string
		run    running
		work   float64
		due    time.Duration
		victim string
	}{
		{"long checkpointable", running{"long", true, 0}, 10, 30 * time.Second, "long"},
		{"not checkpointable", running{"long", false, 0}, 10, 30 * time.Second, ""},
		{"victim has a deadline", running{"long", true, time.Hour}, 10, 30 * time.Second, ""},
		{"missed even on a free node", running{"long", true, 0}, 100, 30 * time.Second, ""},
		{"no deadline", running{"long", true, 0}, 10, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newRig(t)
			g.node("pi", protocol.TierEdge, 1)
			long := sleepTask(c.run.id, 1000, 0, c.run.deadline)
			long.Checkpointable = c.run.checkpointable
			if got := g.place(long); got != "pi" {
				t.Fatalf("the long task went to %q", got)
			}
			g.running(c.run.id)
			g.advance(5 * time.Second)
			urgent := sleepTask("urgent", c.work, 0, c.due)
			r := &taskengine.Request{Task: urgent.ID, Spec: &urgent, Work: urgent.Work, Submitted: g.now}
			id, n, ok := g.p.Victim(r, g.cands())
			if got := map[bool]string{true: id, false: ""}[ok]; got != c.victim {
				t.Fatalf("victim %q (attempt %d), want %q", got, n, c.victim)
			}
			if ok && n != 1 {
				t.Fatalf("victim attempt %d, want 1", n)
			}
		})
	}
	// Switched off (placement.preempt: false), or under a baseline (its
	// name means its algorithm), nothing is a victim of the same case.
	for name, mod := range map[string]func(*Options){
		"preempt off": func(o *Options) { o.NoPreempt = true },
		"least-work":  func(o *Options) { o.Policy = "least-work" },
	} {
		g := newRig(t, mod)
		g.node("pi", protocol.TierEdge, 1)
		long := sleepTask("long", 1000, 0, 0)
		long.Checkpointable = true
		g.place(long)
		g.running("long")
		urgent := sleepTask("urgent", 10, 0, 30*time.Second)
		if _, _, ok := g.p.Victim(&taskengine.Request{Task: "urgent", Spec: &urgent, Work: 10, Submitted: g.now}, g.cands()); ok {
			t.Errorf("%s: a victim", name)
		}
	}
}
