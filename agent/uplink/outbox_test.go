package uplink

import (
	"context"
	"testing"

	"github.com/tether-edge/tether/agent/store"
)

// testOutbox is a real store in a temporary directory, run and closed
// with the test.
func testOutbox(t *testing.T) Outbox {
	t.Helper()
	return testOutboxWith(t, store.Options{})
}

// testOutboxWith is testOutbox with the store's options o.
func testOutboxWith(t *testing.T, o store.Options) Outbox {
	t.Helper()
	s, _, err := store.Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := s.Close(); err != nil {
			t.Errorf("store close: %v", err)
		}
	})
	return StoreOutbox(s)
}
