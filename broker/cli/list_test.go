package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
)

// TestTasksListsEveryTask: `tether-broker tasks` pages through every task
// the scheduler holds, through the scheduler's list op — here 1,300, more
// than the 1,024 that the listing from retained statuses could buffer.
func TestTasksListsEveryTask(t *testing.T) {
	t.Parallel()
	const n = 1300
	url, dir := startServeForCLI(t)
	pwFile := filepath.Join(dir, "ops.pw")

	topics, _ := protocol.NewTopics("default")
	ops, err := session.New(session.Options{Brokers: []string{url}, ClientID: "ops@submit", Username: "ops", Password: "ops-pw", CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	sdone := make(chan error, 1)
	go func() { sdone <- ops.Run(sctx) }()
	defer func() { scancel(); <-sdone }()
	var replied atomic.Int64
	allReplied := make(chan struct{})
	window := make(chan struct{}, 128) // submissions without a reply yet
	if err := ops.Subscribe(context.Background(), topics.Replies("ops"), 1, func(m session.Message) {
		if r, err := task.DecodeReply(m.Payload); err == nil && r.OK {
			if replied.Add(1) == n {
				close(allReplied)
			}
			<-window
		}
	}); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := ops.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		window <- struct{}{}
		id := fmt.Sprintf("t-%04d", i)
		b, _ := json.Marshal(task.SubmitRequest{V: 1, RequestID: id, ReplyTo: topics.Reply("ops", id),
			Spec: task.Spec{ID: id, Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinCPU, Units: 1}}})
		if _, err := ops.PublishAsync(session.Message{Topic: topics.TaskSubmit(), QoS: 1, Payload: b}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-allReplied:
	case <-time.After(60 * time.Second):
		t.Fatalf("%d of %d submissions answered", replied.Load(), n)
	}

	env, out, errb := testEnv("")
	if err := Run(context.Background(), env, []string{"tasks", "--broker", url, "--username", "ops", "--password-file", pwFile, "--json"}); err != nil {
		t.Fatalf("tasks: %v\n%s", err, errb.String())
	}
	var list []task.Status
	if err := json.Unmarshal([]byte(out.String()), &list); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, st := range list {
		seen[st.Task] = true
	}
	if len(list) != n || len(seen) != n {
		t.Fatalf("tasks listed %d (%d distinct), want %d", len(list), len(seen), n)
	}
}
