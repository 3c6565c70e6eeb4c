package cli

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/broker/serve"
)

// startServeForCLI runs a scheduler with its embedded broker on a loopback
// port until the test ends, with the users tether-scheduler (sched-pw) and
// the operator ops (ops-pw), and no signing key (tasks stay pending). It
// returns the broker's URL and the scheduler's directory.
func startServeForCLI(t *testing.T) (url, dir string) {
	t.Helper()
	dir = t.TempDir()
	creds := filepath.Join(dir, "credentials")
	for user, pw := range map[string]string{"tether-scheduler": "sched-pw", "ops": "ops-pw"} {
		if err := mqttd.AddUser(creds, user, pw); err != nil {
			t.Fatal(err)
		}
	}
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
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("scheduler: %v", err)
		}
	})
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("scheduler not ready")
	}
	return url, dir
}
