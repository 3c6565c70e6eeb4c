package fleet

import (
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

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
// The fleet calls observe only for messages whose seq moved forward, so a
// message from another boot is from a later boot, and starts a new
// estimate. Messages of a boot that ended before the scheduler heard from
// it live (made before a power cut, delivered after) are placed with that
// boot's loose bound: late, never early.
type bootClock struct {
	boot string
	at   time.Time // estimated boot time on the scheduler's clock
}

// observe refines the estimate with a message received at recv and returns
// the time the message was made, on the scheduler's clock, and whether it
// could be placed.
func (c *bootClock) observe(h protocol.Header, recv time.Time) (time.Time, bool) {
	if h.Boot == "" || h.UpMS == 0 {
		return h.TS, false
	}
	bound := recv.Add(-time.Duration(h.UpMS) * time.Millisecond)
	if h.Boot != c.boot {
		c.boot, c.at = h.Boot, bound
	} else if bound.Before(c.at) {
		c.at = bound
	}
	return c.at.Add(time.Duration(h.UpMS) * time.Millisecond), true
}
