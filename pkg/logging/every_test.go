package logging

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestEvery: one line per interval whatever the attributes, the next one
// saying how many were held back.
func TestEvery(t *testing.T) {
	var b strings.Builder
	clock := &fakeClock{t: time.Unix(1000, 0)}
	e := NewEvery(slog.New(slog.NewTextHandler(&b, nil)), time.Second)
	e.now = clock.now
	for k := range 50 {
		e.Warn("refused", "client", k)
	}
	if got := strings.Count(b.String(), "msg=refused"); got != 1 {
		t.Fatalf("%d lines for 50 warnings within the interval, want 1:\n%s", got, b.String())
	}
	b.Reset()
	clock.t = clock.t.Add(999 * time.Millisecond)
	e.Warn("refused")
	if b.Len() != 0 {
		t.Fatalf("a line before the interval passed:\n%s", b.String())
	}
	clock.t = clock.t.Add(time.Millisecond)
	e.Warn("refused", "client", "last")
	if got := b.String(); strings.Count(got, "msg=refused") != 1 || !strings.Contains(got, "suppressed_since_last=50") || !strings.Contains(got, "client=last") {
		t.Fatalf("after the interval: want one line saying 50 were held back, got:\n%s", got)
	}
}
