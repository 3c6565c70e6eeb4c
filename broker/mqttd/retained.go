package mqttd

import (
	"bytes"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// retainedHook delivers the retained messages a subscription matches
// without dropping any. mochi replays them all at once into the client's
// pending-writes queue (Options.MaxPendingWrites) and drops what does not
// fit — with 10,000 nodes' retained statuses or fleet rows, a new monitor
// got half of them. Here mochi is told to send none ([MQTT-3.3.1-10]'s
// retain handling 2, set on the way in) and a goroutine per subscription
// writes them itself, each waiting for room: the connection's writes block
// on TCP, and QoS 1 messages wait while retainedWindow of the client's are
// unacknowledged, so live traffic keeps its share of the in-flight quota.
// A replay starts once its SUBACK is on the wire: MQTT 3.1.1 §3.8.4 lets a
// server send matching PUBLISH packets before the SUBACK, but a client
// reads its connection in order, so a SUBACK written behind thousands of
// retained messages reaches it only after it has read them all — on a busy
// host, after its subscribe timed out.
//
// A client's replays run one at a time, on one goroutine, in the order of
// its SUBSCRIBEs, and a replay waiting to start is not queued twice for the
// same filter and QoS (when it starts it sends what is retained then, which
// is what the second would have sent). Each replay holds the matching
// topic names and reads each message when it sends it. So a client that
// subscribes to tether/v1/# hundreds of times and never acknowledges costs
// one goroutine and one list of names — before, each SUBSCRIBE started a
// goroutine holding a copy of every matching message: 300 of them over
// 2,000 retained rows took 570 MiB and a fifth of a core (one monitor's
// credentials could take the scheduler's memory).
type retainedHook struct {
	mqtt.HookBase
	srv      *mqtt.Server
	retained *retainIndex // the topics holding a retained message
	acl      interface {
		OnACLCheck(cl *mqtt.Client, topic string, write bool) bool
	}
	log *slog.Logger

	mu      sync.Mutex                // guards pending, acked and queued
	pending map[*mqtt.Client][]replay // set by OnSubscribe, taken by OnSubscribed (same goroutine per client)
	// acked holds, per client, the replays whose SUBACK is not written
	// yet, in the order of their SUBSCRIBEs (a client's packets are
	// processed in turn, so its SUBACKs are written in that order).
	acked map[*mqtt.Client][][]replay
	// queued holds, per client with a replay goroutine, the replays still
	// to run after the one under way, in order.
	queued map[*mqtt.Client][]replay
	wg     sync.WaitGroup // the replay goroutines; Stop waits for them
}

// replay is a filter of a SUBSCRIBE whose retained messages this hook
// sends.
type replay struct {
	index int
	sub   packets.Subscription
}

// retainedWindow bounds a replay's unacknowledged QoS 1 messages: well
// under any client's in-flight quota (mochi MaximumInflight), so a replay
// never starves the client's live messages.
const retainedWindow = 64

func newRetainedHook(srv *mqtt.Server, retained *retainIndex, acl interface {
	OnACLCheck(cl *mqtt.Client, topic string, write bool) bool
}, log *slog.Logger) *retainedHook {
	return &retainedHook{srv: srv, retained: retained, acl: acl, log: log, pending: map[*mqtt.Client][]replay{},
		acked: map[*mqtt.Client][][]replay{}, queued: map[*mqtt.Client][]replay{}}
}

func (h *retainedHook) ID() string { return "tether-retained" }

func (h *retainedHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnSubscribe, mqtt.OnSubscribed, mqtt.OnPacketSent, mqtt.OnDisconnect}, []byte{b})
}

// OnSubscribe takes the retained replay of each filter over from mochi.
func (h *retainedHook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	var rs []replay
	filters := make(packets.Subscriptions, len(pk.Filters))
	copy(filters, pk.Filters)
	for i, sub := range filters {
		if mqtt.IsSharedFilter(sub.Filter) || sub.RetainHandling == 2 {
			continue // nothing to send [MQTT-4.8.2] [MQTT-3.3.1-11]
		}
		if _, existed := cl.State.Subscriptions.Get(sub.Filter); sub.RetainHandling == 1 && existed {
			continue // [MQTT-3.3.1-10]
		}
		rs = append(rs, replay{index: i, sub: sub})
		filters[i].RetainHandling = 2
	}
	pk.Filters = filters
	if len(rs) > 0 {
		h.mu.Lock()
		h.pending[cl] = rs
		h.mu.Unlock()
	}
	return pk
}

// OnSubscribed readies the replay of the filters that were granted; it
// starts when the SUBACK mochi writes next has been written. The retained
// messages are looked up by the replay, not here: with thousands of them
// the lookup takes long enough on a busy host to hold the SUBACK past a
// client's subscribe timeout.
func (h *retainedHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	h.mu.Lock()
	rs := h.pending[cl]
	delete(h.pending, cl)
	h.mu.Unlock()
	var granted []replay
	for _, r := range rs {
		if r.index < len(codes) && codes[r.index] < packets.ErrUnspecifiedError.Code {
			granted = append(granted, r)
		}
	}
	if len(granted) == 0 {
		return
	}
	if cl.Net.Conn == nil { // mochi's inline client: it is sent no SUBACK
		h.start(cl, granted)
		return
	}
	h.mu.Lock()
	h.acked[cl] = append(h.acked[cl], granted)
	h.mu.Unlock()
}

// OnPacketSent starts the replay waiting for the SUBACK just written.
func (h *retainedHook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type != packets.Suback {
		return
	}
	h.mu.Lock()
	var rs []replay
	if q := h.acked[cl]; len(q) > 0 {
		rs = q[0]
		if len(q) == 1 {
			delete(h.acked, cl)
		} else {
			h.acked[cl] = q[1:]
		}
	}
	h.mu.Unlock()
	if rs != nil {
		h.start(cl, rs)
	}
}

// OnDisconnect forgets the replays of a client gone before their SUBACK.
func (h *retainedHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.mu.Lock()
	delete(h.acked, cl)
	delete(h.pending, cl)
	h.mu.Unlock()
}

// start queues the replays of the granted filters rs for cl, and starts
// cl's replay goroutine unless it runs.
func (h *retainedHook) start(cl *mqtt.Client, rs []replay) {
	h.mu.Lock()
	q, running := h.queued[cl]
	for _, r := range rs {
		if !slices.ContainsFunc(q, func(o replay) bool { return o.sub.Filter == r.sub.Filter && o.sub.Qos == r.sub.Qos }) {
			q = append(q, r)
		}
	}
	h.queued[cl] = q
	h.mu.Unlock()
	if running {
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			h.mu.Lock()
			q := h.queued[cl]
			if len(q) == 0 || cl.Closed() {
				delete(h.queued, cl)
				h.mu.Unlock()
				return
			}
			r := q[0]
			h.queued[cl] = q[1:]
			h.mu.Unlock()
			h.send(cl, r.sub, h.retained.candidates(r.sub.Filter)) // [MQTT-3.8.4-4]
		}
	}()
}

// send writes the retained messages of topics to cl in order, at the
// subscription's QoS, until done or the client is gone. A topic whose
// message was cleared meanwhile is skipped. A QoS 1 message is in the
// session's in-flight store before it is written, so a persistent session
// that drops mid-replay gets it again on its return.
func (h *retainedHook) send(cl *mqtt.Client, sub packets.Subscription, topics []string) {
	wait := time.Millisecond
	for _, t := range topics {
		pk, ok := h.srv.Topics.Retained.Get(t)
		if !ok || len(pk.Payload) == 0 || !h.acl.OnACLCheck(cl, pk.TopicName, false) {
			continue
		}
		qos := min(pk.FixedHeader.Qos, sub.Qos, h.srv.Options.Capabilities.MaximumQos)
		out := pk.Copy(false)
		out.FixedHeader.Retain = true // [MQTT-3.3.1-8]
		out.FixedHeader.Qos = qos
		if qos > 0 {
			for cl.State.Inflight.Len() >= retainedWindow {
				if cl.Closed() {
					return
				}
				// PUBACKs arrive on the client's own goroutine; a client
				// that sends none is looked at ever less often.
				time.Sleep(wait)
				wait = min(2*wait, 100*time.Millisecond)
			}
			wait = time.Millisecond
			id, err := cl.NextPacketID()
			if err != nil {
				h.log.Warn("retained replay stopped: no packet id free", "client", cl.ID)
				return
			}
			out.PacketID = uint16(id)
			if cl.State.Inflight.Set(out) {
				atomic.AddInt64(&h.srv.Info.Inflight, 1) // the PUBACK takes it off again
				cl.State.Inflight.DecreaseSendQuota()
			}
		}
		if cl.Closed() {
			return
		}
		if err := cl.WritePacket(out); err != nil {
			return
		}
	}
}

// Stop waits for the replays; mochi calls it after closing every client,
// which ends them.
func (h *retainedHook) Stop() error {
	h.wg.Wait()
	return nil
}
