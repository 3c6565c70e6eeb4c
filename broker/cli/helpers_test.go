package cli

import (
	"context"
	"log/slog"
	"os"
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
// returns the broker's URL and the scheduler's directory, which holds
// ops's password in ops.pw.
func startServeForCLI(t *testing.T) (url, dir string) {
	t.Helper()
	dir = t.TempDir()
	url, stop := startServeIn(t, dir)
	t.Cleanup(stop)
	return url, dir
}

// startServeIn runs startServeForCLI's scheduler over dir (its credentials
// file, ops.pw and task store, made on the first start) until stop, so a
// test can start it again over the same task store.
func startServeIn(t *testing.T, dir string) (url string, stop func()) {
	t.Helper()
	creds := filepath.Join(dir, "credentials")
	if _, err := os.Stat(creds); err != nil {
		for user, pw := range map[string]string{"tether-scheduler": "sched-pw", "ops": "ops-pw"} {
			if err := mqttd.AddUser(creds, user, pw); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "ops.pw"), []byte("ops-pw\n"), 0o600); err != nil {
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
	stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("scheduler: %v", err)
		}
	}
	select {
	case url = <-ready:
	case err := <-done:
		cancel()
		t.Fatal(err)
	case <-time.After(20 * time.Second):
		stop()
		t.Fatal("scheduler not ready")
	}
	return url, stop
}

// specFile writes a task spec in a new directory of the test's.
func specFile(t *testing.T, spec string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(p, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
