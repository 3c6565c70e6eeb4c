package mqttd

import (
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/pkg/logging"
)

// flowHook is the embedded broker's flow control: a QoS 1 message the
// broker acknowledges is never dropped on its way to a persistent session.
//
// mochi acknowledges a publish (PUBACK) before it routes the message, and a
// subscriber whose session already holds MaxInflight unacknowledged
// messages, or whose pending-writes queue is full, loses the message
// ("client store quota reached"). The publisher deleted it on the PUBACK.
// OnPublish runs on the publisher's read goroutine before the PUBACK, so
// this hook makes room first: it reserves a slot in every persistent
// session the message goes to, and while one of them is full it holds the
// publisher there. A held publisher's connection is not read, so TCP
// back-pressure reaches it, and its durable outbox keeps what it has not
// had acknowledged. The reservation ends when mochi has routed the message
// (OnPublished), when the next publish of the same connection starts, or
// when the connection ends.
//
// The rules:
//   - Covered: QoS ≥ 1 deliveries to the persistent sessions (clean session
//     false) of schedulers, nodes and enrolling devices — the parties a
//     message's acknowledgement makes a promise to — connected or not: a
//     disconnected session's inflight store is its offline queue, and it
//     is full at the same limit.
//   - Not covered: clean-session subscribers, and every session of a
//     watcher (monitor or operator user), persistent or not. They are
//     never waited for; one that falls MaxInflight behind loses messages,
//     as mochi does, and never slows the fleet. A watcher's persistent
//     session that went away would otherwise fill its offline queue and
//     then hold every node and refuse every fleet row until it expired
//     (Options.SessionExpiry, 7 days): one read-only credential stopping
//     the region. What it loses is state the broker also retains (fleet
//     rows, node and task statuses). QoS 0 is never covered. A client's
//     own messages to itself are not covered (waiting for itself would
//     never end).
//   - Who is held: every publisher except scheduler users. A subscriber's
//     room frees only when its read goroutine reads its PUBACKs, so a held
//     client's room cannot free: if the scheduler, whose session nodes wait
//     for, could be held for a node's session, each could wait for the
//     other forever. A scheduler whose message meets a full session gets no
//     PUBACK instead (the message is refused, not delivered); its publish
//     times out and it keeps the message, as it does for a lost connection.
//   - Wills are held the same way (on the disconnecting client's own
//     goroutine), since a will says a node is gone.
//   - Holding ends when the room is there, the publisher's connection
//     ends, or the broker stops; a publisher whose connection ended gets no
//     PUBACK, so it publishes again on its next connection.
//
// Waiters are woken one per freed slot (a subscriber's PUBACK), in the
// order they began to wait, and a newcomer queues behind them, so a
// flooding publisher cannot starve the others of a busy session.
type flowHook struct {
	mqtt.HookBase
	server *mqtt.Server
	// limit is the unacknowledged QoS 1 messages a persistent session may
	// hold: min(MaxInflight, MaxPendingWrites), since Tether's traffic is
	// QoS 1 and each such message is in both until it is written and
	// acknowledged.
	limit int
	// holdable reports whether a publisher may be held (see the rules).
	holdable func(cl *mqtt.Client) bool
	// covered reports whether a subscriber's persistent session is waited
	// for (see the rules): not a watcher's.
	covered func(cl *mqtt.Client) bool
	// recheck bounds a held publisher's sleep between looks at its own
	// connection and at rooms that changed without a PUBACK (a session
	// that ended, a subscription removed).
	recheck time.Duration
	stop    chan struct{} // closed when the broker stops: holding ends
	refused *logging.Every
	// refusals counts the publishes refused without acknowledgement
	// because a session they go to was full (Stats.Refused).
	refusals atomic.Int64

	mu      sync.Mutex               // guards rooms and pending
	rooms   map[string]*room         // subscriber client id → its room
	pending map[*mqtt.Client][]*room // a publisher's reservations until its message is routed
}

// room is one persistent session's flow-control state.
type room struct {
	id       string
	reserved int           // slots reserved by publishers not yet routed
	waiters  int           // publishers held for this room
	wake     chan struct{} // one token per freed slot; receivers are served in order
}

const flowRecheck = time.Second

func newFlowHook(server *mqtt.Server, limit int, holdable, covered func(*mqtt.Client) bool, refused *logging.Every) *flowHook {
	return &flowHook{server: server, limit: limit, holdable: holdable, covered: covered, recheck: flowRecheck,
		stop: make(chan struct{}), refused: refused,
		rooms: map[string]*room{}, pending: map[*mqtt.Client][]*room{}}
}

func (h *flowHook) ID() string { return "tether-flow" }

func (h *flowHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnPublish, mqtt.OnPublished, mqtt.OnQosComplete, mqtt.OnDisconnect, mqtt.OnWill, mqtt.OnWillSent:
		return true
	}
	return false
}

// close ends every hold; the broker is stopping.
func (h *flowHook) close() { close(h.stop) }

// OnPublish reserves room for pk in every persistent session it goes to,
// holding the publisher while one is full, or refuses it (no PUBACK, no
// delivery) when the publisher may not be held or its connection ended.
func (h *flowHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	h.release(cl) // a previous publish whose PUBACK could not be written
	if cl.Net.Inline || pk.FixedHeader.Qos == 0 {
		return pk, nil
	}
	targets := h.targets(cl, pk.TopicName, pk.FixedHeader.Qos)
	if len(targets) == 0 {
		return pk, nil
	}
	if full := h.reserve(cl, targets, h.holdable(cl), true); full != "" {
		h.refusals.Add(1)
		h.refused.Warn("message refused without acknowledgement: a persistent session it goes to is full",
			"client", cl.ID, "session", full, "topic", pk.TopicName)
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// OnPublished: mochi has routed the message; its reservations are now
// counted in the sessions' inflight stores.
func (h *flowHook) OnPublished(cl *mqtt.Client, _ packets.Packet) { h.release(cl) }

// OnWill holds the disconnecting client until its will fits every
// persistent session it goes to. A will cannot be refused, and its
// connection is over (or was taken over by a new one), so only the
// broker's stop ends the hold.
func (h *flowHook) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	h.release(cl)
	if will.Qos > 0 {
		if targets := h.targets(cl, will.TopicName, will.Qos); len(targets) > 0 {
			h.reserve(cl, targets, true, false)
		}
	}
	return will, nil
}

// OnWillSent: the will is routed.
func (h *flowHook) OnWillSent(cl *mqtt.Client, _ packets.Packet) { h.release(cl) }

// OnQosComplete: cl acknowledged a message, so its session has a free slot.
func (h *flowHook) OnQosComplete(cl *mqtt.Client, _ packets.Packet) {
	h.mu.Lock()
	if r := h.rooms[cl.ID]; r != nil {
		r.signal()
	}
	h.mu.Unlock()
}

// OnDisconnect drops what cl still reserved, and wakes those held for
// cl's session: if it was a clean session it is gone.
func (h *flowHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.release(cl)
	h.mu.Lock()
	if r := h.rooms[cl.ID]; r != nil {
		for range r.waiters {
			r.signal()
		}
	}
	h.mu.Unlock()
}

// signal hands one freed slot to the longest-held waiter. The caller holds
// h.mu.
func (r *room) signal() {
	if r.waiters == 0 {
		return
	}
	select {
	case r.wake <- struct{}{}:
	default: // tokens enough for every waiter are already queued
	}
}

// persistent reports whether cl's session outlives its connection, by
// mochi's own rule for expiring a session at disconnect.
func persistent(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}

// targets are the covered persistent sessions, other than the publisher's,
// that topic is delivered to at QoS ≥ 1.
func (h *flowHook) targets(pub *mqtt.Client, topic string, qos byte) []*mqtt.Client {
	subs := h.server.Topics.Subscribers(topic)
	var out []*mqtt.Client
	for id, sub := range subs.Subscriptions {
		if id == pub.ID || min(sub.Qos, qos) == 0 {
			continue
		}
		if cl, ok := h.server.Clients.Get(id); ok && persistent(cl) && h.covered(cl) {
			out = append(out, cl)
		}
	}
	return out
}

// reserve takes a slot in every target's room, holding while one is full
// if hold is true. It returns "" once reserved, else the id of the full
// session (not held, the broker stopped, or — with watch — the
// publisher's connection ended).
func (h *flowHook) reserve(pub *mqtt.Client, targets []*mqtt.Client, hold, watch bool) string {
	var waitingOn *room // the room this publisher is queued in, if any
	defer func() {
		if waitingOn != nil {
			h.mu.Lock()
			waitingOn.waiters--
			h.mu.Unlock()
		}
	}()
	var timer *time.Timer
	for {
		h.mu.Lock()
		full := h.fullRoom(targets, waitingOn)
		if full == nil {
			rs := make([]*room, len(targets))
			for i, t := range targets {
				rs[i] = h.room(t.ID)
				rs[i].reserved++
			}
			h.pending[pub] = rs
			h.mu.Unlock()
			return ""
		}
		if !hold {
			h.mu.Unlock()
			return full.id
		}
		if waitingOn != full {
			if waitingOn != nil {
				waitingOn.waiters--
			}
			full.waiters++
			waitingOn = full
		}
		h.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(h.recheck)
			defer timer.Stop()
		} else {
			timer.Reset(h.recheck)
		}
		select {
		case <-full.wake:
		case <-timer.C:
		case <-h.stop:
			return full.id
		}
		if watch && pub.Closed() {
			return full.id
		}
	}
}

// fullRoom returns the room of the first target with no slot for one more
// message, or nil. A session with held publishers is full to a newcomer:
// they go first. The caller holds h.mu.
func (h *flowHook) fullRoom(targets []*mqtt.Client, waitingOn *room) *room {
	for _, t := range targets {
		r := h.room(t.ID)
		if r.waiters > 0 && r != waitingOn {
			return r
		}
		if t.State.Inflight.Len()+r.reserved >= h.limit {
			return r
		}
	}
	return nil
}

// room returns id's room, made on first use. The caller holds h.mu.
func (h *flowHook) room(id string) *room {
	r := h.rooms[id]
	if r == nil {
		r = &room{id: id, wake: make(chan struct{}, 64)}
		h.rooms[id] = r
	}
	return r
}

// release ends cl's reservations and forgets rooms nobody uses.
func (h *flowHook) release(cl *mqtt.Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rs, ok := h.pending[cl]
	if !ok {
		return
	}
	delete(h.pending, cl)
	for _, r := range rs {
		r.reserved--
		r.signal()
		if r.reserved == 0 && r.waiters == 0 {
			delete(h.rooms, r.id)
		}
	}
}
