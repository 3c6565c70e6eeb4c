package mqttd

import (
	"errors"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/pkg/logging"
	"github.com/tether-edge/tether/pkg/session"
)

// Receiver delivers the messages of some topic filters to a handler in the
// broker's own process: the scheduler's receive path when it runs beside
// the embedded broker.
//
// The handler runs on the publisher's read goroutine, before the broker
// retains, acknowledges or routes the message (mochi's OnPublish; a will's
// in OnWill). So a PUBACK means the handler has applied the message: a
// publisher whose message is slow to apply is held there, its connection is
// not read, TCP back-pressure reaches exactly that publisher, and its
// durable outbox keeps what it has not had acknowledged. When the broker
// and the receiver die together (SIGKILL), nothing they acknowledged was
// waiting in between.
//
//	NewReceiver ──▶ (held: matching publishes wait) ──Start──▶ delivering ──Stop──▶ refusing
//
// Before Start, a matching publish waits (its publisher held) until Start,
// Stop, the end of its connection or the broker's stop. Start first hands
// the handler every retained message the filters match (Retained true),
// then lets the held and all later publishes through (Retained false, as a
// live publish is delivered [MQTT-3.3.1-9]); since held publishes are not
// yet retained, the replay cannot overtake them. After Stop, and whenever
// the handler returns an error, the publish is refused: not acknowledged,
// not retained, not routed, so its publisher sends it again on its next
// connection. A will cannot be refused: one that meets a stopped receiver
// or a failing handler is routed as usual, unapplied.
//
// Handlers run concurrently, one per publisher; messages of one connection
// arrive in order.
type Receiver struct {
	filters []string
	recheck time.Duration // a held publisher's sleep between looks at its connection

	mu      sync.RWMutex // guards h, stopped and the Add of running
	h       func(Message) error
	stopped bool
	running sync.WaitGroup // handlers in progress; Stop waits for them
	open    chan struct{}  // closed by Start or Stop: holding ends
	once    sync.Once      // closes open

	srv        *mqtt.Server  // set by New; the retained messages Start replays
	retained   *retainIndex  // set by New: the topics holding them
	brokerStop chan struct{} // set by New; closed when the broker stops
}

// Message is a message delivered by a Receiver. Payload is valid only
// during the handler's call.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
}

// ErrReceiverStopped is the refusal of a publish after Stop.
var ErrReceiverStopped = errors.New("mqttd: receiver stopped")

// NewReceiver returns a receiver for filters; give it to the broker in
// Options.Receiver.
func NewReceiver(filters ...string) (*Receiver, error) {
	if len(filters) == 0 {
		return nil, errors.New("mqttd: a receiver needs at least one topic filter")
	}
	for _, f := range filters {
		if !mqtt.IsValidFilter(f, false) {
			return nil, fmt.Errorf("mqttd: receiver filter %q is not a valid topic filter", f)
		}
	}
	return &Receiver{filters: filters, recheck: time.Second, open: make(chan struct{})}, nil
}

// Start replays the retained messages the filters match to h, then delivers
// every matching publish to h. Call it once, after the broker is Ready.
func (r *Receiver) Start(h func(Message) error) error {
	if r.srv == nil {
		return errors.New("mqttd: receiver started before its broker was made (Options.Receiver)")
	}
	r.mu.Lock()
	if r.stopped || r.h != nil {
		r.mu.Unlock()
		return errors.New("mqttd: receiver started twice or after Stop")
	}
	r.h = h
	r.mu.Unlock()
	r.retained.seed(r.srv)
	seen := map[string]bool{}
	for _, f := range r.filters {
		for _, pk := range r.retained.messages(r.srv, f) {
			if seen[pk.TopicName] {
				continue // two filters match it
			}
			seen[pk.TopicName] = true
			_ = h(Message{Topic: pk.TopicName, Payload: pk.Payload, Retained: true})
		}
	}
	r.once.Do(func() { close(r.open) })
	return nil
}

// Stop refuses every later publish and waits for the handlers in progress.
func (r *Receiver) Stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.once.Do(func() { close(r.open) })
	r.running.Wait()
}

// matches reports whether topic is one of the receiver's.
func (r *Receiver) matches(topic string) bool {
	for _, f := range r.filters {
		if session.Match(f, topic) {
			return true
		}
	}
	return false
}

// deliver waits until the receiver is started (or cl's connection ends, or
// the broker or receiver stops) and applies m. A nil error means applied.
// watch is false for a will, whose connection is already over.
func (r *Receiver) deliver(cl *mqtt.Client, m Message, watch bool) error {
	var timer *time.Timer
	for {
		select {
		case <-r.open:
		case <-r.brokerStop:
			return ErrReceiverStopped
		default:
			if timer == nil {
				timer = time.NewTimer(r.recheck)
				defer timer.Stop()
			} else {
				timer.Reset(r.recheck)
			}
			select {
			case <-r.open:
			case <-r.brokerStop:
				return ErrReceiverStopped
			case <-timer.C:
				if watch && cl.Closed() {
					return errors.New("mqttd: connection ended while held")
				}
				continue
			}
		}
		break
	}
	r.mu.RLock()
	if r.stopped {
		r.mu.RUnlock()
		return ErrReceiverStopped
	}
	h := r.h
	r.running.Add(1)
	r.mu.RUnlock()
	defer r.running.Done()
	return h(m)
}

// receiverHook puts a Receiver on mochi's publish path. It is the last
// hook added, so it sees only what the ACL, the retained quota and flow
// control let through.
type receiverHook struct {
	mqtt.HookBase
	r    *Receiver
	fail *logging.Every
}

func (h *receiverHook) ID() string { return "tether-receiver" }

func (h *receiverHook) Provides(b byte) bool { return b == mqtt.OnPublish || b == mqtt.OnWill }

// OnPublish applies a matching publish before mochi acknowledges it, or
// refuses it (no PUBACK, not retained, not routed).
func (h *receiverHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if !h.r.matches(pk.TopicName) {
		return pk, nil
	}
	if err := h.r.deliver(cl, Message{Topic: pk.TopicName, Payload: pk.Payload}, !cl.Net.Inline); err != nil {
		h.fail.Warn("message refused without acknowledgement: not applied", "client", cl.ID, "topic", pk.TopicName, "err", err)
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// OnWill applies a matching will before mochi routes it.
func (h *receiverHook) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	if !h.r.matches(will.TopicName) {
		return will, nil
	}
	if err := h.r.deliver(cl, Message{Topic: will.TopicName, Payload: will.Payload}, false); err != nil {
		h.fail.Warn("will routed without being applied", "client", cl.ID, "topic", will.TopicName, "err", err)
	}
	return will, nil
}
