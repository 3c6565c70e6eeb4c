package live

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// TestSRTFThroughTheEngine: with placement.policy srtf on one single-slot node, a short task
// submitted while a long checkpointable one runs takes its slot (the long attempt ends,
// preempted, and its task waits pending); the long one gets the slot back when the short
// one ends. A long task that cannot be checkpointed keeps its slot.
func TestSRTFThroughTheEngine(t *testing.T) {
	for _, checkpointable := range []bool{true, false} {
		g := newEngineRig(t, func(o *Options) { o.Policy = "srtf" })
		g.node("pi", protocol.TierEdge, 1)
		long := sleepTask("long", 100, 0, 0)
		long.Checkpointable = checkpointable
		if _, r := g.submit(long); !r.OK {
			t.Fatalf("submit long: %+v", r)
		}
		if _, on := g.event("pi", "long", task.EventRunning, nil); len(on) != 0 {
			t.Fatalf("placed %v", on)
		}
		g.now = g.now.Add(5 * time.Second)
		n, r := g.submit(sleepTask("short", 5, 0, 0))
		if !r.OK {
			t.Fatalf("submit short: %+v", r)
		}
		if !checkpointable {
			if n != "" {
				t.Errorf("short placed on %s beside a long task that cannot yield", n)
			}
			if got := g.e.Preempted(); got != 0 {
				t.Errorf("%d preemptions", got)
			}
			continue
		}
		if n != "pi" || g.e.Preempted() != 1 {
			t.Fatalf("short on %q after %d preemptions, want pi after 1", n, g.e.Preempted())
		}
		g.now = g.now.Add(5 * time.Second)
		g.seq++
		g.e.Event(task.Event{Header: protocol.Header{V: protocol.Version, Node: "pi", Instance: "i-pi", Seq: g.seq, TS: g.now},
			Task: "short", Attempt: 1, State: task.EventSucceeded, Result: &task.Result{DurationMS: 5000, WorkDone: 50}})
		_, on := g.take()
		if diff := cmp.Diff(map[string]string{"long": "pi", "short": "pi"}, on); diff != "" {
			t.Errorf("after short ended (-want +got):\n%s", diff)
		}
		if st := g.status["long"]; st.Attempt != 2 || len(st.Attempts) != 2 || st.Attempts[0].Reason != "yielded for short" {
			t.Errorf("long: %+v", st)
		}
	}
}

// TestEDFThroughTheEngine: with placement.policy edf on one single-slot node, the tasks
// waiting for the slot take it in deadline order, whatever their submission order, and a
// deadline no node can meet is refused at submission: nothing is stored.
func TestEDFThroughTheEngine(t *testing.T) {
	g := newEngineRig(t, func(o *Options) { o.Policy = "edf" })
	g.node("pi", protocol.TierEdge, 1)
	if n, r := g.submit(sleepTask("first", 1, 0, 0)); !r.OK || n != "pi" {
		t.Fatalf("first: on %q, %+v", n, r)
	}
	for _, s := range []struct {
		id  string
		due time.Duration
	}{{"due30", 30 * time.Second}, {"none", 0}, {"due10", 10 * time.Second}, {"due20", 20 * time.Second}} {
		if n, r := g.submit(sleepTask(s.id, 1, 0, s.due)); !r.OK || n != "" {
			t.Fatalf("%s: on %q, %+v", s.id, n, r)
		}
	}
	n, r := g.submit(sleepTask("impossible", 100, 0, 10*time.Second))
	if r.OK || n != "" || !strings.Contains(r.Error, "spec.deadline 10s cannot be met") || !strings.Contains(r.Error, "edf admission") {
		t.Fatalf("impossible: on %q, reply %+v", n, r)
	}
	if _, ok := g.status["impossible"]; ok || g.e.Counts()[task.StatePending] != 4 {
		t.Errorf("the refused task was stored: %v", g.e.Counts())
	}
	order := []string{"first"}
	for len(order) < 5 {
		g.now = g.now.Add(time.Second)
		_, placed := g.event("pi", order[len(order)-1], task.EventSucceeded, &task.Result{DurationMS: 1000, WorkDone: 10})
		if len(placed) != 1 {
			t.Fatalf("after %s: placed %v", order[len(order)-1], placed)
		}
		for id := range placed {
			order = append(order, id)
		}
	}
	if diff := cmp.Diff([]string{"first", "due10", "due20", "due30", "none"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

// BenchmarkEDFAdmission: the cost of one deadline submission's admission test under edf with
// n deadline tasks pending (one single-slot node): it orders the pending tasks and walks them
// (AdmitEDF), on the engine's goroutine. The task measured is refused (its work cannot fit),
// so the pending count stays n.
func BenchmarkEDFAdmission(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("pending=%d", n), func(b *testing.B) {
			g := newEngineRig(b, func(o *Options) { o.Policy = "edf" })
			g.node("pi", protocol.TierEdge, 1)
			for i := range n {
				if _, r := g.submit(sleepTask(fmt.Sprintf("t%05d", i), 1, 0, time.Duration(n+i+10)*time.Minute)); !r.OK {
					b.Fatalf("t%05d: %+v", i, r)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, r := g.submit(sleepTask(fmt.Sprintf("x%d", i), 1e8, 0, time.Duration(2*n+20)*time.Minute)); r.OK || !strings.Contains(r.Error, "edf admission") {
					b.Fatalf("the measured task was not refused by the admission test: %+v", r)
				}
			}
		})
	}
}
