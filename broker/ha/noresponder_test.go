package ha

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestWhileNoResponderWaitsOutALeaderElection: a read that finds no
// responder (a stream electing its leader, as CI saw right after the blob
// bucket was made) is asked again until it answers; any other answer, and
// an ended context, end it.
func TestWhileNoResponderWaitsOutALeaderElection(t *testing.T) {
	t.Parallel()
	calls := 0
	err := whileNoResponder(context.Background(), func() error {
		calls++
		if calls < 3 {
			return nats.ErrNoResponders
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want nil after 3", err, calls)
	}
	other := errors.New("not found")
	calls = 0
	if err := whileNoResponder(context.Background(), func() error { calls++; return other }); !errors.Is(err, other) || calls != 1 {
		t.Fatalf("another error: %v after %d calls, want it at once", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := whileNoResponder(ctx, func() error { return nats.ErrNoResponders }); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("with the context ended: %v, want the last error", err)
	}
}
