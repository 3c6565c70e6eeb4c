package testenv

import (
	"bytes"
	"log/slog"
	"testing"
)

// What a logger is given after its test's cleanups have run is dropped
// instead of written to the test's log once the test has ended (which the
// race detector reports, and testing turns into a panic).
func TestLoggerDropsWritesAfterCleanup(t *testing.T) {
	var buf bytes.Buffer
	w := &testWriter{out: &buf}
	log := slog.New(slog.NewTextHandler(w, nil))
	log.Info("during the test")
	w.close()
	log.Info("after the test")
	if got := buf.String(); !bytes.Contains(buf.Bytes(), []byte("during the test")) || bytes.Contains(buf.Bytes(), []byte("after the test")) {
		t.Fatalf("log = %q, want the first line only", got)
	}
}
