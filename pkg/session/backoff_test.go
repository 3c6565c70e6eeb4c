package session

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tether-edge/tether/pkg/backoff"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestBackoffOnlyOnceEveryBrokerFailed runs Run against two brokers that
// refuse every connection, on synctest's clock: each round tries both at
// once, then waits the backoff's delay (here always 30 s) before the next
// round — no sooner, no later. A refused loopback dial fails without
// blocking, so nothing but the backoff's timer moves the clock.
func TestBackoffOnlyOnceEveryBrokerFailed(t *testing.T) {
	dead1, dead2 := deadBroker(t), deadBroker(t)
	synctest.Test(t, func(t *testing.T) {
		var logs testenv.SyncBuffer
		o := fastOptions(dead1, dead2)
		o.Backoff = backoff.Policy{Min: 30 * time.Second, Max: 30 * time.Second, Rand: rand.New(maxSource{})}
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		s, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		defer func() { // also after a failure: a bubble ends with its goroutines
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
		}()
		attempts := func() int { return strings.Count(logs.String(), "mqtt connect failed") }

		synctest.Wait()
		if n := attempts(); n != 2 {
			t.Fatalf("%d failed connects at first, want one to each broker:\n%s", n, logs.String())
		}
		time.Sleep(30*time.Second - time.Nanosecond) // kept: synctest's clock, to a nanosecond before the backoff ends
		synctest.Wait()
		if n := attempts(); n != 2 {
			t.Fatalf("%d failed connects before the backoff's 30 s passed, want 2:\n%s", n, logs.String())
		}
		time.Sleep(time.Nanosecond) // kept: synctest's clock, to the backoff's end
		synctest.Wait()
		if n := attempts(); n != 4 {
			t.Fatalf("%d failed connects once the 30 s passed, want 4 (a second round):\n%s", n, logs.String())
		}
	})
}
