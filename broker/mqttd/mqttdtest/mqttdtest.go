// Package mqttdtest runs Tether's embedded MQTT broker inside a test
// process, as the tests of the packages that talk to it need one: the
// scheduler's, the command line's, the task service's and the blob
// transfer's. (broker/mqttd's own tests cannot import it and keep their
// own startServer.)
package mqttdtest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/pkg/testenv/mqtttest"
)

// Start runs an embedded broker with opts until the test ends and returns
// it with its URL (tcp://127.0.0.1:port). An empty Addr listens on
// 127.0.0.1:0 and a nil Logger discards. The test fails if the broker is
// not ready within 10 s or stops with an error.
func Start(t testing.TB, opts mqttd.Options) (*mqttd.Server, string) {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	srv, err := mqttd.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("broker: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		<-done
		t.Fatal("broker not ready after 10s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("broker: %v", err)
		}
	})
	return srv, "tcp://" + srv.Addr().String()
}

// Credentials writes a credentials file holding users (name → password)
// in a new directory of the test's, and returns its path.
func Credentials(t testing.TB, users map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials")
	for user, pw := range users {
		if err := mqttd.AddUser(path, user, pw); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// StartOpen runs a bare mochi broker that lets everyone in, without
// Tether's ACL, until the test ends, and returns it with its URL. A
// message from a client for which swallow (if set) returns true is
// acknowledged and neither delivered nor retained: a broker alive to the
// keepalive that carries nothing, as a NATS node restarted seconds before
// was seen to (docs/scaling.md).
func StartOpen(t testing.TB, swallow func(clientID string) bool) (*mochi.Server, string) {
	t.Helper()
	if swallow == nil {
		return mqtttest.Start(t)
	}
	return mqtttest.Start(t, &swallowHook{swallow: swallow})
}

type swallowHook struct {
	mochi.HookBase
	swallow func(clientID string) bool
}

func (h *swallowHook) ID() string { return "swallow" }

func (h *swallowHook) Provides(b byte) bool { return b == mochi.OnPublish }

// OnPublish marks a swallowed message ignored: mochi acknowledges an
// ignored message and neither delivers nor retains it.
func (h *swallowHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if h.swallow(cl.ID) {
		return pk, packets.CodeSuccessIgnore
	}
	return pk, nil
}
