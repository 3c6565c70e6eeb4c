package serve

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

func netResolve(s string) (net.Addr, error) { return net.ResolveTCPAddr("tcp", s) }

// startServe runs the scheduler with its embedded broker on 127.0.0.1:0
// in the test process, with users (name → password; tether-scheduler's is
// "sched-pw") in a fresh credentials file and cfg changed by edit. It
// returns the broker's URL once the scheduler is ready, and stop, which
// ends Run and fails the test if Run does not return cleanly within 15 s;
// stop also runs at cleanup.
func startServe(t *testing.T, users map[string]string, edit func(*config.Config)) (url string, stop func()) {
	t.Helper()
	return startServeWith(t, users, edit, Options{})
}

// startServeWith is startServe with the scheduler's Options o (its
// Logger, Version and OnReady are the test's).
func startServeWith(t *testing.T, users map[string]string, edit func(*config.Config), o Options) (url string, stop func()) {
	t.Helper()
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	users["tether-scheduler"] = "sched-pw"
	for user, pw := range users {
		if err := mqttd.AddUser(creds, user, pw); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Embedded.Listen = "127.0.0.1:0"
	cfg.Embedded.CredentialsFile = creds
	cfg.Password = "sched-pw"
	cfg.FleetInterval = 100 * time.Millisecond
	cfg.Tasks.Dir = filepath.Join(dir, "tasks")
	if edit != nil {
		edit(&cfg)
	}
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		o.Logger, o.Version, o.OnReady = slog.New(slog.DiscardHandler), "test", func(u string) { ready <- u }
		done <- Run(ctx, cfg, o)
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after cancel: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	select {
	case url = <-ready:
	case err := <-done:
		stopped = true
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("scheduler not ready")
	}
	return url, stop
}

// waitPlaceable waits until the fleet view shows each of nodes online:
// the scheduler handled their births (the task engine learns of a birth
// as the fleet does), so a task submitted now is placed with them in view.
// sess must be allowed to read the fleet rows (an operator, a monitor).
func waitPlaceable(t testing.TB, sess *session.Session, topics protocol.Topics, within time.Duration, nodes ...string) {
	t.Helper()
	var mu sync.Mutex
	online := map[string]bool{} // the latest row's word
	if err := sess.Subscribe(context.Background(), topics.AllFleetRows(), 1, func(m session.Message) {
		if r, err := protocol.DecodeFleetRow(m.Payload); err == nil {
			mu.Lock()
			online[r.Node] = r.Online
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, within, fmt.Sprintf("%d nodes online in the fleet view", len(nodes)), func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range nodes {
			if !online[n] {
				return false
			}
		}
		return true
	})
}
