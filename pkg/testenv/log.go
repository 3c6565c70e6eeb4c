package testenv

import (
	"io"
	"log/slog"
	"sync"
	"testing"
)

// Logger returns a text logger at level and above that writes into the
// test's own log (t.Output): shown for a failed test, or with -v. What is
// logged after the test's cleanups have run (a goroutine the test failed
// to stop) is dropped, where t.Log would race with the test's end. A fuzz
// target may not log, so for a *testing.F it discards.
func Logger(t testing.TB, level slog.Leveler) *slog.Logger {
	if _, fuzz := t.(*testing.F); fuzz {
		return slog.New(slog.DiscardHandler)
	}
	w := &testWriter{out: t.Output()}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// testWriter passes writes to a test's output until close.
type testWriter struct {
	mu  sync.Mutex // guards out; held across a write so close waits for it
	out io.Writer  // nil once closed
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.out == nil {
		return len(p), nil
	}
	return w.out.Write(p)
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.out = nil
	w.mu.Unlock()
}
