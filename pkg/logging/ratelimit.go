package logging

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// RateLimit configures NewRateLimited. The zero value uses the defaults.
type RateLimit struct {
	// Burst is how many records with one message may be written back to
	// back. Default 10.
	Burst int
	// Every is how often one more record with that message is allowed
	// once the burst is spent. Default 1 s.
	Every time.Duration
	// Now is the clock; default time.Now, whose monotonic reading is what
	// the limiter compares, so a step of the wall clock changes nothing.
	Now func() time.Time
	// PassDebug lets debug records through unlimited: a level an operator
	// turns on knowingly, to see every event (the scheduler's "node
	// message" for each report, which tests count).
	PassDebug bool
}

// Defaults for RateLimit's zero fields: with them, a flood of one message
// costs at most 10 lines at once and then one a second.
const (
	DefaultBurst = 10
	DefaultEvery = time.Second
)

// NewRateLimited returns a handler that passes records to h, at most
// Burst at once and then one per Every for each distinct message (the
// record's Message, whatever its attributes: a flood of one event from many
// clients is one stream). A record written after others with its message
// were dropped carries suppressed=N, the number dropped since the last one
// written. Records a level h ignores are not counted.
//
// Use it for every logger that input from the network can make write:
// the limiter's memory is one entry per distinct message, which for
// constant messages is bounded by the program's text.
func NewRateLimited(h slog.Handler, rl RateLimit) slog.Handler {
	if rl.Burst <= 0 {
		rl.Burst = DefaultBurst
	}
	if rl.Every <= 0 {
		rl.Every = DefaultEvery
	}
	if rl.Now == nil {
		rl.Now = time.Now
	}
	return &rateLimited{h: h, l: &limiter{rl: rl, buckets: map[string]*bucket{}}}
}

type rateLimited struct {
	h slog.Handler
	l *limiter // shared by every handler derived with WithAttrs/WithGroup
}

// limiter is a token bucket per message.
type limiter struct {
	rl      RateLimit
	mu      sync.Mutex // guards buckets and their contents
	buckets map[string]*bucket
}

type bucket struct {
	tokens     float64
	last       time.Time // when tokens was last topped up
	suppressed int
}

// allow takes a token for msg; it returns whether the record may be
// written and how many were dropped before it.
func (l *limiter) allow(msg string) (bool, int) {
	now := l.rl.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[msg]
	if !ok {
		b = &bucket{tokens: float64(l.rl.Burst), last: now}
		l.buckets[msg] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens += float64(elapsed) / float64(l.rl.Every)
		if b.tokens > float64(l.rl.Burst) {
			b.tokens = float64(l.rl.Burst)
		}
		b.last = now
	}
	if b.tokens < 1 {
		b.suppressed++
		return false, 0
	}
	b.tokens--
	n := b.suppressed
	b.suppressed = 0
	return true, n
}

func (r *rateLimited) Enabled(ctx context.Context, level slog.Level) bool {
	return r.h.Enabled(ctx, level)
}

func (r *rateLimited) Handle(ctx context.Context, rec slog.Record) error {
	if r.l.rl.PassDebug && rec.Level < slog.LevelInfo {
		return r.h.Handle(ctx, rec)
	}
	ok, suppressed := r.l.allow(rec.Message)
	if !ok {
		return nil
	}
	if suppressed > 0 {
		rec = rec.Clone()
		rec.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return r.h.Handle(ctx, rec)
}

func (r *rateLimited) WithAttrs(as []slog.Attr) slog.Handler {
	return &rateLimited{h: r.h.WithAttrs(as), l: r.l}
}

func (r *rateLimited) WithGroup(name string) slog.Handler {
	return &rateLimited{h: r.h.WithGroup(name), l: r.l}
}
