package cli

import (
	"log/slog"
	"strings"
	"testing"
)

// TestServeLoggerIsRateLimited: what a node can make the scheduler log
// repeatedly is written ten times at once, then held back; debug records
// all pass, and the level can still be changed (reload).
func TestServeLoggerIsRateLimited(t *testing.T) {
	var b strings.Builder
	log, level, err := serveLogger(&b, "info", "text")
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		log.Info("enrolment request", "node", "x")
		log.Debug("node message")
	}
	if got := strings.Count(b.String(), "enrolment request"); got != 10 {
		t.Errorf("%d of 100 identical info lines written, want 10", got)
	}
	if strings.Contains(b.String(), "node message") {
		t.Errorf("debug lines written at level info")
	}
	level.Set(slog.LevelDebug)
	b.Reset()
	for range 100 {
		log.Debug("node message")
	}
	if got := strings.Count(b.String(), "node message"); got != 100 {
		t.Errorf("%d of 100 debug lines written at level debug, want all", got)
	}
}
