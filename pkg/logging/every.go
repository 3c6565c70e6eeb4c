package logging

import (
	"log/slog"
	"sync"
	"time"
)

// Every writes one warning at most per interval and says on the next one
// how many it held back (suppressed_since_last=N): for one event that input
// from the network can repeat, whatever its attributes, where
// NewRateLimited's per-message burst would still let ten through at once.
// Intervals are measured on the monotonic clock.
type Every struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time // time.Now; a test's clock

	mu         sync.Mutex // guards last and suppressed
	last       time.Time
	suppressed int
}

// NewEvery returns an Every writing to log at most once per every.
func NewEvery(log *slog.Logger, every time.Duration) *Every {
	return &Every{log: log, every: every, now: time.Now}
}

// Warn writes msg at warning level, unless one was written less than the
// interval ago.
func (r *Every) Warn(msg string, args ...any) {
	r.mu.Lock()
	now := r.now()
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	r.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed_since_last", n)
	}
	r.log.Warn(msg, args...)
}
