package mqttd

import (
	"log/slog"
	"sync"
	"time"
)

// rateLog logs at most once per interval and says how many it held back:
// what clients can trigger must not become a flood of log lines.
type rateLog struct {
	log   *slog.Logger
	every time.Duration

	mu         sync.Mutex // guards last and suppressed
	last       time.Time
	suppressed int
}

func newRateLog(log *slog.Logger, every time.Duration) *rateLog {
	return &rateLog{log: log, every: every}
}

func (r *rateLog) warn(msg string, args ...any) {
	r.mu.Lock()
	now := time.Now()
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
