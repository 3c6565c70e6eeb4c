// Package mqtttest runs a bare MQTT broker (mochi, open to any client,
// with its inline client) on a loopback port for one test: the broker the
// agent's and pkg's tests talk to, where Tether's own embedded broker
// (broker/mqttd, whose tests use broker/mqttd/mqttdtest) is not the
// subject. agent/ and pkg/ may not import broker/.
package mqtttest

import (
	"log/slog"
	"net"
	"testing"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Start runs an open broker until the test ends, with hooks added after
// the one that lets every client in, and returns it with its URL
// (tcp://127.0.0.1:port).
func Start(t testing.TB, hooks ...mochi.Hook) (*mochi.Server, string) {
	t.Helper()
	return StartWith(t, append([]mochi.Hook{new(auth.AllowHook)}, hooks...)...)
}

// StartWith is Start with only the given hooks, for a test whose hook
// decides who connects and what they may read (mochi allows an ACL check
// as soon as one hook does, so beside Start's allow-all hook it would never
// be asked).
func StartWith(t testing.TB, hooks ...mochi.Hook) (*mochi.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	for _, h := range hooks {
		if err := srv.AddHook(h, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.AddListener(listeners.NewNet("t", ln)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, "tcp://" + ln.Addr().String()
}
