// Package backoff computes reconnect delays: capped exponential growth with
// full jitter, so a hundred agents that lost the same broker do not come back
// in lock step.
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

// Next returns the delay before the next attempt: uniform in
// [ceiling/2, ceiling], where ceiling = Min·2^attempt capped at Max. Half the
// ceiling is kept as a floor so a retry storm cannot hit the broker with
// near-zero delays ("equal jitter").
func (b *Backoff) Next() time.Duration {
	ceiling := b.p.Min
	for i := 0; i < b.attempt && ceiling < b.p.Max; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, b.p.Max)
	if ceiling < b.p.Max {
		b.attempt++
	}
	half := ceiling / 2
	return half + time.Duration(b.p.Rand.Int64N(int64(ceiling-half)+1))
}

// Reset starts the sequence again, after a connection that proved healthy.
func (b *Backoff) Reset() { b.attempt = 0 }
