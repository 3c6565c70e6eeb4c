package serve

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
)

// BenchmarkSubmitToRunning measures, through the whole scheduler over its
// embedded broker on loopback, the time from an operator's submit to the
// retained status saying running, at 100 and 500 submissions a second spread over
// 50 fake agents that answer every assignment with a running event and,
// 20 ms later, a succeeded one. It reports the p50 and p99 of that time
// and the scheduler's durable commits per task. b.N is the number of
// tasks (-benchtime 2500x is five seconds).
func BenchmarkSubmitToRunning(b *testing.B) {
	for _, rate := range []int{100, 500} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) { benchSubmitToRunning(b, rate) })
	}
}

func benchSubmitToRunning(b *testing.B, rate int) {
	const agents = 50
	s := newLoadSite(b, agents)
	topics, _ := protocol.NewTopics("default")
	pub := s.key.Public().(ed25519.PublicKey)
	ids := make([]string, agents)
	for i := range agents {
		ids[i] = fmt.Sprintf("pi-%02d", i)
		startFakeAgent(b, s.url, ids[i], pub, topics)
	}
	ops := dial(b, s.url, "ops@load", "ops", "ops-pw")
	var mu sync.Mutex
	submitted := map[string]time.Time{}
	last := map[string]string{} // task → last state seen
	var lat []time.Duration
	running := make(chan struct{}, b.N+1)
	if err := ops.Subscribe(context.Background(), topics.AllTaskStatus(), 1, func(m session.Message) {
		st, err := task.DecodeStatus(m.Payload)
		if err != nil {
			return
		}
		mu.Lock()
		last[st.Task] = st.State
		mu.Unlock()
		// The retained status carries the latest state: a task that
		// succeeded before its running status went out is seen succeeded
		// first. That moment bounds its submit→running time from above.
		if st.State != task.StateRunning && !task.Terminal(st.State) {
			return
		}
		mu.Lock()
		if at, ok := submitted[st.Task]; ok {
			lat = append(lat, time.Since(at))
			delete(submitted, st.Task)
			running <- struct{}{}
		}
		mu.Unlock()
	}); err != nil {
		b.Fatal(err)
	}
	waitPlaceable(b, ops, topics, 30*time.Second, ids...) // births placed
	b.ResetTimer()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := 0; i < b.N; i++ {
		<-tick.C
		id := fmt.Sprintf("load-%d-%d", b.N, i)
		req := task.SubmitRequest{V: 1, RequestID: fmt.Sprintf("q%d", i), ReplyTo: topics.Reply("ops", fmt.Sprintf("q%d", i)),
			Spec: task.Spec{ID: id, Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 2}}}
		body, _ := json.Marshal(req)
		mu.Lock()
		submitted[id] = time.Now()
		mu.Unlock()
		if _, err := ops.PublishAsync(session.Message{Topic: topics.TaskSubmit(), QoS: 1, Payload: body}); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.After(30 * time.Second)
	for range b.N {
		select {
		case <-running:
		case <-deadline:
			mu.Lock()
			states := map[string]int{}
			for id := range submitted {
				states[last[id]]++
			}
			b.Fatalf("%d of %d tasks not running after 30 s; their last states: %v", len(submitted), b.N, states)
			mu.Unlock()
		}
	}
	b.StopTimer()
	mu.Lock()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	mu.Unlock()
}

// newLoadSite is newSite with the 50 agents' and an operator's users.
func newLoadSite(b *testing.B, agents int) *site {
	s := newSiteWith(b, func(users map[string]string) {
		for i := range agents {
			users[fmt.Sprintf("pi-%02d", i)] = "node-pw"
		}
	})
	return s
}

// startFakeAgent connects as node id, publishes its birth, and answers
// every verified run assignment with running then, 20 ms later,
// succeeded, through a worker (a handler must not wait for a PUBACK).
func startFakeAgent(b *testing.B, url, id string, pub ed25519.PublicKey, topics protocol.Topics) {
	sess := dial(b, url, id, id, "node-pw")
	work := make(chan task.Assignment, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); wg.Wait() })
	if err := sess.Subscribe(ctx, topics.NodeCommands(id), 1, func(m session.Message) {
		env, err := task.DecodeEnvelope(m.Payload)
		if err != nil {
			return
		}
		if a, err := task.Verify([]ed25519.PublicKey{pub}, env, id, time.Now()); err == nil && a.Op == task.AssignRun {
			work <- a
		}
	}); err != nil {
		b.Fatal(err)
	}
	birth, _ := json.Marshal(protocol.NodeStatus{Header: protocol.Header{V: 1, Node: id, Instance: "i-" + id, TS: time.Now()},
		State: protocol.StateOnline, Conn: 1, HeartbeatS: 60,
		Facts: &protocol.Facts{Hostname: id, OS: "linux", Arch: "arm64", Cores: 4, MemTotal: 4 << 30, AgentVersion: "t", Tier: "edge"}})
	if err := sess.Publish(ctx, session.Message{Topic: topics.NodeStatus(id), QoS: 1, Retained: true, Payload: birth}); err != nil {
		b.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		var seq uint64
		send := func(a task.Assignment, state string) {
			seq++
			ev, _ := json.Marshal(task.Event{Header: protocol.Header{V: 1, Node: id, Instance: "i-" + id, Store: "s-" + id, Seq: seq, TS: time.Now()},
				Task: a.Task, Attempt: a.Attempt, State: state})
			_ = sess.Publish(ctx, session.Message{Topic: topics.NodeTasks(id), QoS: 1, Payload: ev})
		}
		var done []task.Assignment
		var at []time.Time
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case a := <-work:
				send(a, task.EventRunning)
				done, at = append(done, a), append(at, time.Now().Add(20*time.Millisecond))
			case now := <-tick.C:
				for len(done) > 0 && now.After(at[0]) {
					send(done[0], task.EventSucceeded)
					done, at = done[1:], at[1:]
				}
			}
		}
	}()
}
