package testenv

import (
	"testing"
	"time"
)

// pollEvery is how often Eventually and Within ask again: often enough
// that a test waits little past the moment its condition holds.
const pollEvery = 5 * time.Millisecond

// Eventually asks ok until it holds, and fails the test with what when it
// has not held within d. It is for conditions a test cannot be told of
// (another process, a real network); code the test owns should signal.
// Logic driven by timers, with no real sockets or Badger in the way, is
// tested on testing/synctest's clock instead, where a wait is exact and
// takes no real time (pkg/session/backoff_test.go, pkg/blob/retry_test.go).
func Eventually(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	if !Within(d, ok) {
		t.Fatalf("%s: not within %v", what, d)
	}
}

// Within reports whether ok held within d, asking every pollEvery.
func Within(d time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(d); !ok(); time.Sleep(pollEvery) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
