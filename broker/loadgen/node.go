package loadgen

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/pkg/backoff"
	"github.com/tether-edge/tether/pkg/protocol"
)

// record is a counted message (metrics) kept until the broker's PUBACK,
// as the agent's outbox keeps it.
type record struct {
	seq     uint64
	payload []byte
	sent    bool // on the current connection
	ever    bool // on any connection: a resend carries DUP
}

// Node lifecycle, driven by the generator:
//
//	waiting ──start──▶ connecting ⇄ connected ──stop──▶ goodbye ──▶ done
//	                       ▲            │
//	                       └──drop/err──┘ (backoff with jitter, outbox kept)
const (
	runRunning int32 = iota
	runStopping
)

// window is how many records await their PUBACK at once, the agent's own
// (agent/uplink).
const window = 32

// Status messages (birth, goodbye) use packet ids above statusIDBase;
// records use (seq-1) % statusIDBase + 1, unique within any window.
const statusIDBase = 65000

type node struct {
	g        *Generator
	id       string
	password string
	instance string
	store    string
	rng      *rand.Rand

	// Owned by the node's goroutine.
	broker     int      // index in the generator's addrs of the one to dial next
	conn       uint32   // connections made
	seq        uint64   // last seq made
	outbox     []record // unacknowledged records, in seq order
	nextSample time.Time
	lastReport time.Time
	lastSend   time.Time
	statusID   uint16 // packet id of the last status message sent
	goodbyeID  uint16
	online     bool // this connection's birth was acknowledged
	sample     sample
	encoded    chan []byte // the encoder's answers

	mu sync.Mutex // guards w for drop and wake from the generator
	w  *wire      // nil while disconnected

	state       atomic.Int32
	goodbyeDone atomic.Bool // the goodbye was acknowledged
	// lastAcked is the highest seq acknowledged; made is seq, both read
	// by the generator once the node's goroutine ended.
	acked atomic.Uint64
}

func newNode(g *Generator, id, password string, seed uint64) *node {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return &node{g: g, id: id, password: password, rng: rng,
		instance: hex16(rng.Uint64()), store: hex16(rng.Uint64()), sample: newSample(rng), encoded: make(chan []byte, 1)}
}

// run is the node's only goroutine: it connects at start, reads with a
// deadline set to its next timed duty (a sample, a keepalive), and sends
// from the same goroutine.
func (n *node) run(ctx context.Context, start time.Time) {
	bo := backoff.New(backoff.Policy{Min: n.g.opts.ReconnectMin, Max: n.g.opts.ReconnectMax,
		Rand: rand.New(rand.NewPCG(n.rng.Uint64(), n.rng.Uint64()))})
	n.nextSample = start.Add(time.Duration(n.rng.Int64N(int64(n.g.opts.Report))))
	n.lastReport = start
	nextConnect := start
	for ctx.Err() == nil {
		if n.state.Load() == runStopping {
			n.goodbye()
			return
		}
		now := time.Now()
		if now.After(n.nextSample) {
			n.takeSample(now)
		}
		n.mu.Lock()
		w := n.w
		n.mu.Unlock()
		if w == nil {
			if !now.Before(nextConnect) {
				if err := n.connect(); err != nil {
					n.g.stats.connectFailures.Add(1)
					n.broker = (n.broker + 1) % len(n.g.addrs)
					nextConnect = time.Now().Add(bo.Next())
				} else {
					bo.Reset()
				}
				continue
			}
			n.sleepUntil(ctx, earliest(nextConnect, n.nextSample))
			continue
		}
		if err := n.flush(w, now); err != nil {
			n.lost(w)
			nextConnect = time.Now().Add(bo.Next())
			continue
		}
		w.c.SetReadDeadline(earliest(n.nextSample, n.lastSend.Add(n.g.opts.KeepAlive*3/4)))
		if n.state.Load() == runStopping {
			continue
		}
		pk, err := w.read()
		switch {
		case err == nil:
			if err := n.handle(w, &pk); err != nil {
				n.lost(w)
				nextConnect = time.Now().Add(bo.Next())
			}
		case isTimeout(err):
		default:
			n.lost(w)
			nextConnect = time.Now().Add(bo.Next())
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (n *node) sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	case <-n.g.wake:
	}
}

// connect dials its current broker, sends CONNECT with the will of this
// connection, then the subscriptions and the birth; the outbox follows in
// flush.
func (n *node) connect() error {
	o := &n.g.opts
	w, err := dialWire(n.g.addrs[n.broker], o.ConnectTimeout, &n.g.stats.nodeIn)
	if err != nil {
		return err
	}
	will := n.statusPacket(protocol.StateOffline, protocol.ReasonLost, n.conn+1, nil)
	if _, err := w.connect(n.id, n.id, n.password, false, o.KeepAlive, will, o.ConnectTimeout); err != nil {
		w.close()
		return err
	}
	n.conn++
	n.g.stats.connects.Add(1)
	for i := range n.outbox {
		n.outbox[i].sent = false
	}
	sub := subscribePacket(statusIDBase, n.g.topics.NodeCommands(n.id), n.g.topics.NodeStatus(n.id))
	if err := w.write(sub); err != nil {
		w.close()
		return err
	}
	n.mu.Lock()
	n.w = w
	n.mu.Unlock()
	if n.state.Load() == runStopping {
		return nil
	}
	return n.sendBirth(w)
}

func (n *node) sendBirth(w *wire) error {
	facts := n.g.facts(n)
	return n.sendStatus(w, n.statusPacket(protocol.StateOnline, "", n.conn, &facts))
}

func (n *node) sendStatus(w *wire, pk *packets.Packet) error {
	n.statusID++
	if n.statusID == 0 || n.statusID >= 65535-statusIDBase {
		n.statusID = 1
	}
	pk.PacketID = statusIDBase + n.statusID
	n.lastSend = time.Now()
	n.g.stats.out.add(int64(len(pk.Payload) + len(pk.TopicName) + 6))
	return w.write(pk)
}

// statusPacket is a birth, will or goodbye, stamped as the agent stamps
// them: the stream's position (the last seq made), and the connection.
func (n *node) statusPacket(state, reason string, conn uint32, facts *protocol.Facts) *packets.Packet {
	st := protocol.NodeStatus{Header: n.header(n.seq), State: state, Reason: reason, Conn: conn, Facts: facts}
	if facts != nil {
		st.HeartbeatS = n.g.opts.Heartbeat.Seconds()
	}
	b := n.g.enc.marshal(&st, n.encoded)
	return publishPacket(n.g.topics.NodeStatus(n.id), b, true, 0)
}

func (n *node) header(seq uint64) protocol.Header {
	from := seq
	if len(n.outbox) > 0 {
		from = n.outbox[0].seq
	}
	if seq == 0 {
		from = 0
	}
	return protocol.Header{V: protocol.Version, Node: n.id, Instance: n.instance, Store: n.store, Seq: seq,
		TS: time.Now().Truncate(time.Millisecond), From: from}
}

// takeSample moves the simulated readings and makes a report when one of
// them crossed its threshold or the heartbeat is due, as the agent's
// change-only filter does.
func (n *node) takeSample(now time.Time) {
	for !n.nextSample.After(now) {
		n.nextSample = n.nextSample.Add(n.g.opts.Report)
	}
	changed := n.rng.Float64() < n.g.opts.ChangeRate
	heartbeat := now.Sub(n.lastReport) >= n.g.opts.Heartbeat-n.g.opts.Report/2
	if !changed && !heartbeat {
		return
	}
	n.sample.step(n.rng, changed)
	n.seq++
	m := n.sample.metrics(n.header(n.seq), now)
	m.Heartbeat = !changed
	b := n.g.enc.marshal(&m, n.encoded)
	n.outbox = append(n.outbox, record{seq: n.seq, payload: b})
	n.lastReport = now
	n.g.stats.made.Add(1)
}

// flush sends outbox records up to the window, and a PINGREQ when the
// connection has been quiet for most of the keepalive.
func (n *node) flush(w *wire, now time.Time) error {
	topic := n.g.topics.NodeMetrics(n.id)
	inflight := 0
	for i := range n.outbox {
		r := &n.outbox[i]
		if r.sent {
			inflight++
			continue
		}
		if inflight >= window {
			break
		}
		pk := publishPacket(topic, r.payload, false, uint16((r.seq-1)%statusIDBase+1))
		pk.FixedHeader.Dup = r.ever
		if r.ever {
			n.g.stats.resent.Add(1)
		}
		if err := w.write(pk); err != nil {
			return err
		}
		n.g.stats.out.add(int64(len(r.payload) + len(topic) + 6))
		r.sent, r.ever = true, true
		inflight++
		n.lastSend = now
	}
	if now.Sub(n.lastSend) >= n.g.opts.KeepAlive*3/4 {
		n.lastSend = now
		return w.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	}
	return nil
}

// handle processes one packet from the broker.
func (n *node) handle(w *wire, pk *packets.Packet) error {
	switch pk.FixedHeader.Type {
	case packets.Puback:
		n.acknowledged(pk.PacketID)
	case packets.Publish:
		if pk.FixedHeader.Qos > 0 {
			if err := w.write(pubackPacket(pk.PacketID)); err != nil {
				return err
			}
		}
		if strings.HasSuffix(pk.TopicName, "/cmd/"+protocol.CmdRebirth) {
			n.g.stats.rebirths.Add(1)
			return n.sendBirth(w)
		}
		if strings.HasSuffix(pk.TopicName, "/cmd/"+protocol.CmdTask) {
			n.g.stats.tasks.Add(1)
		}
	case packets.Suback:
		for _, c := range pk.ReasonCodes {
			if c >= 0x80 {
				n.g.stats.subRefused.Add(1)
			}
		}
	}
	return nil
}

func (n *node) acknowledged(id uint16) {
	if id > statusIDBase {
		if id == n.goodbyeID {
			n.goodbyeDone.Store(true)
		} else if !n.online {
			n.online = true
			n.g.stats.online.Add(1)
			n.g.stats.births.Add(1)
		}
		return
	}
	for i := range n.outbox {
		r := &n.outbox[i]
		if r.sent && uint16((r.seq-1)%statusIDBase+1) == id {
			if r.seq > n.acked.Load() {
				n.acked.Store(r.seq)
			}
			n.outbox = append(n.outbox[:i], n.outbox[i+1:]...)
			n.g.stats.acked.Add(1)
			return
		}
	}
}

// lost ends the current connection after an error or a drop.
func (n *node) lost(w *wire) {
	w.close()
	n.mu.Lock()
	n.w = nil
	n.mu.Unlock()
	if n.online {
		n.online = false
		n.g.stats.online.Add(-1)
	}
	n.g.stats.disconnects.Add(1)
}

// drop closes the connection without DISCONNECT, as a power cut or a lost
// link does: the broker publishes the will.
func (n *node) drop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.w != nil {
		n.w.close()
	}
}

// stop asks the node to say goodbye and end.
func (n *node) stop() {
	n.state.Store(runStopping)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.w != nil {
		n.w.c.SetReadDeadline(time.Now())
	}
}

// goodbye publishes the goodbye, waits for its PUBACK (and for the
// outbox's in-flight records), then DISCONNECTs, which suppresses the
// will [MQTT-3.1.2-10]. A node that is not connected just ends, as an
// agent stopped while the broker is away does.
func (n *node) goodbye() {
	n.mu.Lock()
	w := n.w
	n.mu.Unlock()
	if w == nil {
		return
	}
	defer n.lost(w)
	now := time.Now()
	if err := n.flush(w, now); err != nil {
		return
	}
	pk := n.statusPacket(protocol.StateOffline, protocol.ReasonShutdown, n.conn, nil)
	if err := n.sendStatus(w, pk); err != nil {
		return
	}
	n.goodbyeID = pk.PacketID
	w.c.SetReadDeadline(now.Add(n.g.opts.ConnectTimeout))
	for !n.goodbyeDone.Load() {
		p, err := w.read()
		if err != nil {
			return
		}
		if n.handle(w, &p) != nil {
			return
		}
	}
	w.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
}
