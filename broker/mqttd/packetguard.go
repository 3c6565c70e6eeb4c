package mqttd

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// guardedConn is the connection mochi sees. It reads the fixed header of
// every packet a client sends before mochi does, and refuses a packet whose
// declared length is over the connection's current limit: mochi allocates a
// packet's declared length before reading it, so the limit must be checked
// before mochi sees the header.
//
// Limits: the first packet (CONNECT) has maxConnect; every later one has
// limit, which is the small client limit until the authentication hook
// raises it for a scheduler (authenticated). A packet that arrives before
// the CONNECT was judged is held to the client limit.
type guardedConn struct {
	net.Conn
	guard packetGuard // touched only by the reading goroutine

	limit   atomic.Int64 // largest remaining length of a packet after the first
	release sync.Once    // frees the connection's unauthenticated slot
	done    func()       // what release runs; nil: nothing to free
}

func newGuardedConn(c net.Conn, maxConnect, maxPacket int, done func()) *guardedConn {
	g := &guardedConn{Conn: c, guard: packetGuard{maxFirst: maxConnect}, done: done}
	g.limit.Store(int64(maxPacket))
	return g
}

func (c *guardedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if gerr := c.guard.feed(p[:n], &c.limit); gerr != nil {
			return 0, gerr // mochi closes the connection
		}
	}
	return n, err
}

// authenticated tells the connection that its CONNECT was accepted: later
// packets may be up to maxPacket long, and it no longer counts as
// unauthenticated.
func (c *guardedConn) authenticated(maxPacket int) {
	c.limit.Store(int64(maxPacket))
	c.free()
}

// free releases the unauthenticated slot, once.
func (c *guardedConn) free() {
	c.release.Do(func() {
		if c.done != nil {
			c.done()
		}
	})
}

var (
	// errConnectTooLarge is returned to mochi in place of a first packet
	// whose declared length is over MaxConnectSize.
	errConnectTooLarge = errors.New("mqttd: first packet larger than MaxConnectSize")
	// errPacketTooLarge is returned in place of a later packet over the
	// client's limit (MaxClientPacketSize, or MaxPacketSize for a
	// scheduler).
	errPacketTooLarge = errors.New("mqttd: packet larger than the client's maximum packet size")
	// errBadLength: a remaining length longer than four bytes [MQTT-2.2.3].
	errBadLength = errors.New("mqttd: malformed remaining length")
)

// packetGuard follows the packets in a client's byte stream: the fixed
// header (one type byte, a 1–4 byte remaining length [MQTT-2.2.3]), then
// the remaining length's bytes, skipped. It costs a few comparisons per
// Read, whatever the packet size.
type packetGuard struct {
	maxFirst int
	packets  int // headers completed
	pos      int // header bytes seen of the current packet; 0: between packets
	mult     int
	value    int
	skip     int // body bytes of the current packet still to come
}

func (g *packetGuard) feed(b []byte, limit *atomic.Int64) error {
	for len(b) > 0 {
		if g.skip > 0 {
			n := min(g.skip, len(b))
			g.skip -= n
			b = b[n:]
			continue
		}
		x := b[0]
		b = b[1:]
		g.pos++
		if g.pos == 1 { // packet type; mochi judges it
			g.mult, g.value = 1, 0
			continue
		}
		g.value += int(x&0x7f) * g.mult
		if g.packets == 0 {
			if g.value > g.maxFirst {
				return errConnectTooLarge
			}
		} else if int64(g.value) > limit.Load() {
			return errPacketTooLarge
		}
		if x&0x80 == 0 {
			g.skip, g.pos = g.value, 0
			g.packets++
			continue
		}
		if g.pos == 5 {
			return errBadLength
		}
		g.mult *= 128
	}
	return nil
}
