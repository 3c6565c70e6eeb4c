package logging

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestRateLimited(t *testing.T) {
	var b strings.Builder
	clock := &fakeClock{t: time.Unix(1000, 0)}
	log := slog.New(NewRateLimited(slog.NewTextHandler(&b, nil), RateLimit{Burst: 3, Every: time.Second, Now: clock.now}))
	child := log.With("component", "x") // shares the budget

	for range 100 {
		child.Info("flood", "client", "c1")
	}
	log.Info("other") // another message has its own budget
	if got := strings.Count(b.String(), "msg=flood"); got != 3 {
		t.Fatalf("%d flood lines written of 100 with a burst of 3:\n%s", got, b.String())
	}
	if !strings.Contains(b.String(), "msg=other") {
		t.Fatalf("a different message was limited too:\n%s", b.String())
	}

	b.Reset()
	clock.t = clock.t.Add(1500 * time.Millisecond) // 1.5 tokens
	child.Info("flood")
	child.Info("flood")
	if got := b.String(); strings.Count(got, "msg=flood") != 1 || !strings.Contains(got, "suppressed=97") {
		t.Fatalf("after 1.5 s: want one line saying 97 were suppressed, got:\n%s", got)
	}

	b.Reset()
	clock.t = clock.t.Add(time.Hour) // refills to the burst, not beyond
	for range 10 {
		child.Info("flood")
	}
	if got := strings.Count(b.String(), "msg=flood"); got != 3 {
		t.Fatalf("after an hour %d lines, want the burst of 3", got)
	}
}

func TestRateLimitedKeepsLevel(t *testing.T) {
	var b strings.Builder
	log := slog.New(NewRateLimited(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelWarn}), RateLimit{}))
	for range 20 {
		log.Info("quiet") // below the level: neither written nor counted
	}
	log.Warn("quiet")
	if got := b.String(); strings.Count(got, "msg=quiet") != 1 || strings.Contains(got, "suppressed") {
		t.Fatalf("got %q", got)
	}
}

// TestRateLimitedPassDebug: with PassDebug every debug record is written
// and counts against nothing; info and above are limited as before.
func TestRateLimitedPassDebug(t *testing.T) {
	var b strings.Builder
	clock := &fakeClock{t: time.Unix(1000, 0)}
	log := slog.New(NewRateLimited(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug}),
		RateLimit{Burst: 2, Now: clock.now, PassDebug: true}))
	for range 50 {
		log.Debug("node message")
		log.Info("node message")
	}
	out := b.String()
	if got := strings.Count(out, "level=DEBUG msg=\"node message\""); got != 50 {
		t.Errorf("%d debug lines of 50 written", got)
	}
	if got := strings.Count(out, "level=INFO msg=\"node message\""); got != 2 {
		t.Errorf("%d info lines of 50 written with a burst of 2", got)
	}
}
