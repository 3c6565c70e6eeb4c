package serve

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestTaskMetricsEndToEnd: a task run through a real scheduler shows in
// /metrics as one placement on an edge node, one queue wait, one attempt
// and one end-to-end latency of a succeeded task.
func TestTaskMetricsEndToEnd(t *testing.T) {
	t.Parallel()
	httpAddr := freeAddr(t)
	s := newSiteCfg(t, nil, func(c *config.Config) { c.HTTP.Listen = httpAddr })
	topics, _ := protocol.NewTopics("default")
	node := dial(t, s.url, "pi-a", "pi-a", "node-pw")
	cmds := listen(t, node, topics.NodeCommands("pi-a"))
	birth := protocol.NodeStatus{Header: protocol.Header{V: 1, Node: "pi-a", Instance: "i1", TS: time.Now()},
		State: protocol.StateOnline, Conn: 1, HeartbeatS: 60,
		Facts: &protocol.Facts{Hostname: "h", OS: "linux", Arch: "arm64", Cores: 4, MemTotal: 4 << 30, AgentVersion: "t", Tier: "edge"}}
	b, _ := json.Marshal(birth)
	if err := node.Publish(context.Background(), session.Message{Topic: topics.NodeStatus("pi-a"), QoS: 1, Retained: true, Payload: b}); err != nil {
		t.Fatal(err)
	}
	ops := dial(t, s.url, "ops@t", "ops", "ops-pw")
	waitPlaceable(t, ops, topics, 5*time.Second, "pi-a")
	spec := task.Spec{ID: "job-1", Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinCPU, Units: 10}}
	publishJSON(t, ops, topics.TaskSubmit(), task.SubmitRequest{V: 1, RequestID: "r1", ReplyTo: topics.Reply("ops", "r1"), Spec: spec})
	var a task.Assignment
	testenv.Eventually(t, 5*time.Second, "assignment at the node", func() bool {
		for _, m := range cmds.all() {
			env, err := task.DecodeEnvelope(m.Payload)
			if err != nil {
				continue
			}
			if a, err = task.Verify([]ed25519.PublicKey{s.key.Public().(ed25519.PublicKey)}, env, "pi-a", time.Now()); err == nil && a.Task == "job-1" {
				return true
			}
		}
		return false
	})
	for i, state := range []string{task.EventRunning, task.EventSucceeded} {
		ev := task.Event{Header: protocol.Header{V: 1, Node: "pi-a", Instance: "i1", Store: "st1", Seq: uint64(i + 1), TS: time.Now()},
			Task: "job-1", Attempt: a.Attempt, State: state}
		if state == task.EventSucceeded {
			ev.Result = &task.Result{Output: "ok"}
		}
		publishJSON(t, node, topics.NodeTasks("pi-a"), ev)
	}
	// Every series is waited for, not only the task's end: each status is
	// observed as it comes, and a scrape may fall between two of them.
	wants := []string{
		`tether_task_duration_seconds_count{state="succeeded"} 1`,
		`tether_placements_total{policy="default",tier="edge"} 1`,
		`tether_task_queue_wait_seconds_count 1`,
		`tether_task_attempt_seconds_count{state="succeeded"} 1`,
	}
	var body string
	all := func() bool {
		for _, want := range wants {
			if !strings.Contains(body, want) {
				return false
			}
		}
		return true
	}
	testenv.Within(5*time.Second, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		bb, _ := io.ReadAll(resp.Body)
		body = string(bb)
		return all()
	})
	for _, want := range wants {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "tether_task_") || strings.HasPrefix(l, "tether_placements") {
				t.Log(l)
			}
		}
	}
}
