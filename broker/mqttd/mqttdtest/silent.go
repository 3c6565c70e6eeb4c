package mqttdtest

import (
	"context"
	"testing"

	"github.com/tether-edge/tether/pkg/session"
)

// Silent connects node to url with a persistent session subscribed to
// filter at QoS 1 and never acknowledges what it receives, as an agent
// that has stopped reading its commands: the broker keeps each message
// unacknowledged in the node's session until the session is full. got,
// if set, is called for each message. The session runs until ctx ends.
func Silent(t testing.TB, ctx context.Context, url, node, filter string, got func()) {
	t.Helper()
	s, err := session.New(session.Options{Brokers: []string{url}, ClientID: node, Username: node})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	t.Cleanup(func() { <-done })
	if err := s.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SubscribeDeferred(ctx, filter, 1, func(session.Message) {
		if got != nil {
			got()
		}
	}); err != nil {
		t.Fatal(err)
	}
}
