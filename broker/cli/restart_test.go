package cli

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/broker/serve"
)

// TestTasksSurviveSchedulerRestart: after the scheduler restarts on the
// same task store, `tasks` lists the tasks submitted before and `task ID`
// shows one.
func TestTasksSurviveSchedulerRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	for user, pw := range map[string]string{"tether-scheduler": "sched-pw", "ops": "ops-pw"} {
		if err := mqttd.AddUser(creds, user, pw); err != nil {
			t.Fatal(err)
		}
	}
	pwFile := filepath.Join(dir, "ops.pw")
	spec := filepath.Join(dir, "t.yaml")
	if err := os.WriteFile(pwFile, []byte("ops-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spec, []byte("id: before-restart\nkind: builtin\nbuiltin: {name: cpu, units: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() (string, func()) {
		cfg := config.Default()
		cfg.Embedded.Listen = "127.0.0.1:0"
		cfg.Embedded.CredentialsFile = creds
		cfg.Embedded.OperatorUsers = []string{"ops"}
		cfg.Password = "sched-pw"
		cfg.Tasks.Dir = filepath.Join(dir, "tasks")
		ready := make(chan string, 1)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- serve.Run(ctx, cfg, serve.Options{Logger: slog.New(slog.DiscardHandler), OnReady: func(u string) { ready <- u }})
		}()
		select {
		case u := <-ready:
			return u, func() { cancel(); <-done }
		case err := <-done:
			t.Fatal(err)
		case <-time.After(20 * time.Second):
			t.Fatal("scheduler not ready")
		}
		return "", nil
	}
	url, stop := start()
	env, _, errb := testEnv("")
	if err := Run(context.Background(), env, []string{"submit", "-f", spec, "--broker", url, "--username", "ops", "--password-file", pwFile}); err != nil {
		stop()
		t.Fatalf("submit: %v\n%s", err, errb.String())
	}
	stop()
	url, stop = start()
	defer stop()
	env, out, errb := testEnv("")
	if err := Run(context.Background(), env, []string{"tasks", "--broker", url, "--username", "ops", "--password-file", pwFile}); err != nil {
		t.Fatalf("tasks: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "before-restart") {
		t.Errorf("tasks after a restart:\n%s", out.String())
	}
	env, out, errb = testEnv("")
	if err := Run(context.Background(), env, []string{"task", "before-restart", "--broker", url, "--username", "ops", "--password-file", pwFile}); err != nil {
		t.Errorf("task after a restart: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "pending") {
		t.Errorf("task after a restart:\n%s", out.String())
	}
}
