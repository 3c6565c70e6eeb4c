// Package backoff computes reconnect delays: capped exponential growth with
// full jitter (each delay uniform between zero and its ceiling), so a fleet
// that lost the same broker does not come back in lock step: its reconnects
// spread evenly over the whole window, where equal jitter would crowd them
// into its second half at twice the rate.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy says how delays grow. The zero value uses the defaults.
type Policy struct {
	Min time.Duration // first delay's cap; default 1 s
	Max time.Duration // cap on every delay; default 60 s
	// Rand draws the jitter; default a generator seeded from the runtime.
	// Tests inject a seeded one.
	Rand *rand.Rand
}

// Defaults for Policy's zero fields.
const (
	DefaultMin = time.Second
	DefaultMax = time.Minute
)

// Backoff hands out successive delays. It is not safe for concurrent use;
// one reconnect loop owns one Backoff.
type Backoff struct {
	p       Policy
	attempt int
}

// New returns a Backoff following p.
func New(p Policy) *Backoff {
	if p.Min <= 0 {
		p.Min = DefaultMin
	}
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	if p.Max < p.Min {
		p.Max = p.Min
	}
	if p.Rand == nil {
		p.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return &Backoff{p: p}
}

// Next returns the delay before the next attempt: uniform in [0, ceiling],
// where ceiling = Min·2^attempt capped at Max ("full jitter"). One agent may
// draw a short delay, but the fleet's attempts are spread over the whole
// window, the fewest per second that the ceiling allows.
func (b *Backoff) Next() time.Duration {
	ceiling := b.p.Min
	for i := 0; i < b.attempt && ceiling < b.p.Max; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, b.p.Max)
	if ceiling < b.p.Max {
		b.attempt++
	}
	return time.Duration(b.p.Rand.Int64N(int64(ceiling) + 1))
}

// Reset starts the sequence again, after a connection that proved healthy.
func (b *Backoff) Reset() { b.attempt = 0 }
