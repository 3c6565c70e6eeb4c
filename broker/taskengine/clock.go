package taskengine

import "time"

// The engine reads two clocks. Every interval it measures — an
// assignment's acknowledgement, an attempt's run time and signs of life,
// a retry's backoff, a node's grace offline, a quarantine, its log
// throttles — is measured on the monotonic clock (Options.Elapsed), so a
// wall clock stepped by NTP (a scheduler on a board without a real-time
// clock) neither ends them early nor holds them for the size of the step.
// The wall clock (Options.Now) only stamps what is stored and shown:
// submitted, updated, assigned, ended, not before, quarantined until.
//
// A wall time read back from the store is mapped onto the monotonic clock
// once, as of the engine's start (restored): the one moment the engine
// relates the two clocks.

// instant is a reading of the engine's monotonic clock, in nanoseconds
// from an origin chosen so that the engine's start reads startInstant.
// Zero is no reading.
type instant int64

// startInstant is the engine's start: far enough from zero that a stored
// time up to maxRestore before the start maps to a positive instant (the
// decoders bound stored times to the years 1970 to 2200), and far enough
// from the int64 limit (292 years) that adding any bound cannot overflow.
const (
	startInstant = instant(1 << 62) // 146 years
	maxRestore   = 100 * 365 * 24 * time.Hour
)

func (a instant) sub(b instant) time.Duration { return time.Duration(a - b) }
func (a instant) add(d time.Duration) instant { return a + instant(d) }
func (a instant) isZero() bool                { return a == 0 }
func (a instant) before(b instant) bool       { return a < b }

// monotonic returns an Elapsed that reads the process's monotonic clock.
func monotonic() func() time.Duration {
	origin := time.Now()
	return func() time.Duration { return time.Since(origin) }
}

// clock reads the monotonic clock.
func (e *Engine) clock() instant {
	return startInstant.add(e.opts.Elapsed() - e.elapsed0)
}

// now reads the wall clock, in UTC: for stamps only, never for intervals.
func (e *Engine) now() time.Time { return e.opts.Now().UTC() }

// restored maps a wall time read from the store onto the monotonic clock
// as of the engine's start; zero stays zero.
func (e *Engine) restored(w time.Time) instant {
	if w.IsZero() {
		return 0
	}
	return startInstant.add(max(min(w.Sub(e.startWall), maxRestore), -maxRestore))
}
