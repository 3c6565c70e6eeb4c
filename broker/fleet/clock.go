package fleet

import (
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

// instant is a reading of the fleet's monotonic clock (Options.Elapsed),
// from an origin far enough from zero that zero is no reading and no
// interval a fleet measures reaches it.
type instant int64

const clockOrigin = instant(1 << 62) // 146 years

func (a instant) sub(b instant) time.Duration { return time.Duration(a - b) }

// clock reads the monotonic clock.
func (f *Fleet) clock() instant { return clockOrigin + instant(f.opts.Elapsed()) }

// bootClock places a node's messages on the scheduler's clock. A Pi has no
// real-time clock: until NTP syncs, its wall clock (Header.TS) can be off by
// years, and a message buffered in the outbox keeps that wrong time. Its
// uptime (Header.UpMS, CLOCK_BOOTTIME) is right, though, so the scheduler
// estimates when the node booted on its own clock and adds the uptime.
//
// Every message gives an upper bound on the boot time: it was made at
// boot+up and received later, so boot ≤ received − up. The smallest bound
// seen is the estimate; its error is the smallest network and queueing
// delay seen, milliseconds on a LAN. Messages replayed from an outbox only
// give looser bounds, so they never spoil the estimate.
//
// The estimate is kept on the scheduler's monotonic clock and turned into
// its wall time at each message: a step of the scheduler's own wall clock
// moves the times shown with it, and never the estimate.
//
// The fleet calls observe only for messages whose seq moved forward, so a
// message from another boot is from a later boot, and starts a new
// estimate. Messages of a boot that ended before the scheduler heard from
// it live (made before a power cut, delivered after) are placed with that
// boot's loose bound: late, never early.
type bootClock struct {
	boot string
	at   instant // estimated boot time on the scheduler's monotonic clock
}

// observe refines the estimate with a message received at wall (now on
// the monotonic clock) and returns the time the message was made, on the
// scheduler's wall clock, and whether it could be placed.
func (c *bootClock) observe(h protocol.Header, wall time.Time, now instant) (time.Time, bool) {
	if h.Boot == "" || h.UpMS == 0 {
		return h.TS, false
	}
	// The decoder bounds up_ms to a century: far from clockOrigin.
	up := time.Duration(min(h.UpMS, uint64(protocol.MaxUptime/time.Millisecond))) * time.Millisecond
	bound := now - instant(up)
	if h.Boot != c.boot {
		c.boot, c.at = h.Boot, bound
	} else if bound < c.at {
		c.at = bound
	}
	return wall.Add(-now.sub(c.at + instant(up))), true
}
