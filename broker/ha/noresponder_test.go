package ha

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

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

// TestInAttemptsAsksAgainAfterAnUnansweredAttempt: an attempt that runs
// out of its own time (a request lost while a stream had no leader) is
// made again with twice the time, while the caller's context lasts; any
// other error ends it at once.
func TestInAttemptsAsksAgainAfterAnUnansweredAttempt(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	var given []time.Duration
	err := inAttempts(context.Background(), log, "test", 20*time.Millisecond, func(ctx context.Context) error {
		dl, _ := ctx.Deadline()
		given = append(given, time.Until(dl).Round(10*time.Millisecond))
		if len(given) < 3 {
			<-ctx.Done() // unanswered
			return ctx.Err()
		}
		return nil
	})
	if err != nil || len(given) != 3 {
		t.Fatalf("err %v after %d attempts, want nil after 3", err, len(given))
	}
	if given[1] < given[0] || given[2] < given[1] || given[2] < 60*time.Millisecond {
		t.Errorf("attempts were given %v: want each twice the last", given)
	}
	other := errors.New("object not found")
	calls := 0
	if err := inAttempts(context.Background(), log, "test", time.Second, func(context.Context) error { calls++; return other }); !errors.Is(err, other) || calls != 1 {
		t.Fatalf("another error: %v after %d calls, want it at once", err, calls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	calls = 0
	err = inAttempts(ctx, log, "test", 10*time.Millisecond, func(ctx context.Context) error { calls++; <-ctx.Done(); return ctx.Err() })
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() == nil {
		t.Fatalf("with the caller's context ended: %v after %d attempts, want its deadline", err, calls)
	}
}
