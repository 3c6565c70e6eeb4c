package taskengine

import (
	"fmt"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// BenchmarkCommitRound measures the transition commit path: a round of
// n running→succeeded transitions (one task record each, a status and a
// finished mark) taken from the engine and committed in one durable
// transaction on the test's temporary directory. ns/op is per round;
// the transition metric is per transition.
func BenchmarkCommitRound(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("transitions=%d", n), func(b *testing.B) {
			h := newHarness(b, func(o *Options) { o.Logger = nil })
			h.node("pi-a")
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("t%04d", i)
				h.submit(builtin(ids[i], 10))
			}
			evs := make([]task.Event, n)
			for i, id := range ids {
				evs[i] = task.Event{Header: protocol.Header{V: 1, Node: "pi-a", Instance: "i", Seq: 1, TS: t0}, Task: id, Attempt: 1}
			}
			commits := h.st.Commits()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Progress moves, so every event is a transition.
				for j := range evs {
					evs[j].State, evs[j].Progress, evs[j].Total = task.EventRunning, int64(i+1), 1<<40
					h.e.Event(evs[j])
				}
				bt, err := h.e.Take()
				if err != nil {
					b.Fatal(err)
				}
				if err := h.st.Commit(bt.units); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/transition")
			b.ReportMetric(float64(h.st.Commits()-commits)/float64(b.N*n), "commits/transition")
		})
	}
}

// BenchmarkTake is the engine's share of a transition: applying an event
// and encoding the record and status, without the disk.
func BenchmarkTake(b *testing.B) {
	h := newHarness(b, func(o *Options) { o.Logger = nil })
	h.node("pi-a")
	h.submit(builtin("t1", 10))
	ev := task.Event{Header: protocol.Header{V: 1, Node: "pi-a", Instance: "i", Seq: 1, TS: t0}, Task: "t1", Attempt: 1,
		State: task.EventRunning, Total: 1 << 40}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.Progress = int64(i + 1)
		h.e.Event(ev)
		if _, err := h.e.Take(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSubmitPlaced is a submission placed at once among 1000 nodes:
// validation, the decision, signing the assignment, the reply, and the
// round's encoding (no disk).
func BenchmarkSubmitPlaced(b *testing.B) {
	topics, _ := protocol.NewTopics("default")
	now := t0
	e, err := New(Options{Topics: topics, Key: testKey, Placer: leastOutstanding{}, Now: func() time.Time { return now }}, Loaded{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		e.UpdateNode(NodeState{ID: fmt.Sprintf("pi-%04d", i), Online: true, Instance: "i", HasFacts: true, Tier: "edge", Cores: 4, MemTotal: 4 << 30})
	}
	id := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id++
		spec := builtin(fmt.Sprintf("t%d", id), 10)
		e.Submit(task.SubmitRequest{V: 1, RequestID: "r", ReplyTo: "tether/v1/default/replies/cli/r", Spec: spec})
		if _, err := e.Take(); err != nil {
			b.Fatal(err)
		}
		// Finish it so the nodes' load stays level.
		e.Event(task.Event{Header: protocol.Header{V: 1, Node: e.tasks[spec.ID].t.Node, Instance: "i", Seq: 1, TS: now},
			Task: spec.ID, Attempt: 1, State: task.EventSucceeded})
		e.Announced(spec.ID)
		if _, err := e.Take(); err != nil {
			b.Fatal(err)
		}
		if _, err := e.Take(); err != nil {
			b.Fatal(err)
		}
	}
}
