package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/broker/serve"
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
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	for user, pw := range map[string]string{"tether-scheduler": "sched-pw", "ops": "ops-pw"} {
		if err := mqttd.AddUser(creds, user, pw); err != nil {
			t.Fatal(err)
		}
	}
	pwFile := filepath.Join(dir, "ops.pw")
	if err := os.WriteFile(pwFile, []byte("ops-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Embedded.Listen = "127.0.0.1:0"
	cfg.Embedded.CredentialsFile = creds
	cfg.Embedded.OperatorUsers = []string{"ops"}
	cfg.Password = "sched-pw"
	cfg.Tasks.Dir = filepath.Join(dir, "tasks") // no signing key: the tasks stay pending
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, cfg, serve.Options{Logger: slog.New(slog.DiscardHandler), OnReady: func(u string) { ready <- u }})
	}()
	defer func() { cancel(); <-done }()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("scheduler not ready")
	}

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
