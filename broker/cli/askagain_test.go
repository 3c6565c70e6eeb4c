package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/broker/mqttd/mqttdtest"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
)

// TestSubmitAsksAgainWhenNoReplyComes: a submission the broker took and
// never delivered (here a scheduler that drops the first copy, as NATS
// under overload did, docs/scaling.md) is asked again by `tether-broker
// submit` before its timeout — the same request, with the task id the CLI
// made for it, so the copy that did arrive cannot make a second task — and
// the CLI prints the task's id as a plain submission.
func TestSubmitAsksAgainWhenNoReplyComes(t *testing.T) {
	t.Parallel()
	creds := mqttdtest.Credentials(t, map[string]string{"tether-scheduler": "sched-pw", "ops": "ops-pw"})
	_, url := mqttdtest.Start(t, mqttd.Options{CredentialsFile: creds, Region: "default",
		SchedulerUsers: []string{"tether-scheduler"}, OperatorUsers: []string{"ops"}})
	topics, _ := protocol.NewTopics("default")

	sched, stop := startSession(t, url, "tether-scheduler", "sched-pw")
	defer stop()
	ctx := context.Background()
	var (
		mu   sync.Mutex
		seen []task.SubmitRequest
	)
	subscribed := make(chan error, 1)
	go func() {
		subscribed <- sched.Subscribe(ctx, topics.TaskSubmit(), 1, func(m session.Message) {
			req, err := task.DecodeSubmitRequest(m.Payload)
			if err != nil {
				t.Errorf("submission: %v", err)
				return
			}
			mu.Lock()
			seen = append(seen, req)
			n := len(seen)
			mu.Unlock()
			if n == 1 {
				return // the first copy is lost after the broker took it
			}
			// The first copy made the task: the second finds it.
			b, _ := json.Marshal(task.Reply{V: task.Version, RequestID: req.RequestID, OK: true, Existing: true,
				Task: req.Spec.ID, State: task.StatePending})
			_ = sched.Publish(ctx, session.Message{Topic: req.ReplyTo, QoS: 1, Payload: b})
		})
	}()
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the scheduler's session did not subscribe")
	}

	spec := specFile(t, "kind: builtin\nbuiltin: {name: cpu, units: 10}\n")
	pw := filepath.Join(t.TempDir(), "ops.pw")
	if err := os.WriteFile(pw, []byte("ops-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env, out, _ := testEnv("")
	began := time.Now()
	err := Run(context.Background(), env, []string{"submit", "-f", spec, "--broker", url, "--username", "ops",
		"--password-file", pw, "--timeout", "6s"})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("the scheduler saw %d copies, want 2", len(seen))
	}
	first, second := seen[0], seen[1]
	if first.RequestID != second.RequestID || first.Spec.ID == "" || first.Spec.ID != second.Spec.ID {
		t.Errorf("the copies differ: request %q / %q, task id %q / %q; want one request with one task id made by the CLI",
			first.RequestID, second.RequestID, first.Spec.ID, second.Spec.ID)
	}
	if got := strings.TrimSpace(out.String()); got != first.Spec.ID {
		t.Errorf("printed %q, want the task id %q alone (its own first copy is no earlier submission)", got, first.Spec.ID)
	}
	t.Logf("answered after %v, asked twice", time.Since(began).Round(time.Millisecond))
}

// TestAskAgainGoesToTheNextBroker: the first broker `tether-broker submit`
// reaches takes the submission and delivers nothing (a cluster node in
// trouble, docs/scaling.md); with a second --broker, the CLI asks again
// through that one, where the scheduler answers.
func TestAskAgainGoesToTheNextBroker(t *testing.T) {
	t.Parallel()
	_, deaf := mqttdtest.StartOpen(t, func(string) bool { return true })
	url, dir := startServeForCLI(t)
	spec := specFile(t, "kind: builtin\nbuiltin: {name: cpu, units: 10}\n")
	pw := filepath.Join(dir, "ops.pw")
	env, out, _ := testEnv("")
	began := time.Now()
	err := Run(context.Background(), env, []string{"submit", "-f", spec, "--broker", deaf, "--broker", url, "--username", "ops",
		"--password-file", pw, "--timeout", "6s"})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if id := strings.TrimSpace(out.String()); id == "" {
		t.Fatal("no task id printed")
	}
	t.Logf("answered after %v, through the second broker", time.Since(began).Round(time.Millisecond))
}
