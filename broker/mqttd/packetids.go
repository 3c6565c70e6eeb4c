package mqttd

import (
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// packetIDHook keeps the two directions' packet identifiers apart.
//
// MQTT numbers packets per direction: a client numbers its PUBLISH,
// SUBSCRIBE and UNSUBSCRIBE packets, the broker numbers the PUBLISH packets
// it sends, and both may use the same number at the same time (MQTT 3.1.1
// §2.3.1, MQTT 5 §2.2.1). mochi keeps both in one in-flight map per client, so
// when a client's packet carries the id of a message the broker still
// waits for the client to acknowledge:
//   - a QoS 1 PUBLISH deletes (or overwrites) that message's record: after
//     a reconnect the broker no longer sends it again, though the publisher
//     was acknowledged, and an MQTT 5 client's send quota (its Receive
//     Maximum) leaks one slot for good (at 0 mochi queues every QoS 1
//     message for the client without sending it);
//   - a SUBSCRIBE or UNSUBSCRIBE is refused with 0x91, which an MQTT 3.1.1
//     client reads as a failed subscription. A monitor that subscribed
//     while a retained replay was in flight missed the fleet rows for good.
//
// Both sides count from 1, so this was common, not rare.
//
// The hook gives a client's QoS 1 PUBLISH, SUBSCRIBE and UNSUBSCRIBE an
// alias while mochi processes it: a fresh id from the client's outbound
// numbering (NextPacketID), so it matches no message in flight, and the
// outbound numbering moves past it (it would have to go through all 65,535
// ids while one packet is processed to hand it out again). The client's
// own id goes back on the acknowledgement (PUBACK, SUBACK, UNSUBACK) as it
// is encoded. Both happen on the client's read goroutine: mochi reads a
// client's packets one at a time and writes these acknowledgements while
// it processes the packet, so one saved id per client is enough. (The id
// cannot simply be 0: mochi validates packets after OnPacketRead.) QoS 2
// publishes keep their ids (their flow spans several packets; Tether's
// clients never use QoS 2): a client that mixes them with the broker's ids
// harms only its own session.
type packetIDHook struct {
	mqtt.HookBase
	srv *mqtt.Server

	mu  sync.Mutex
	ids map[*mqtt.Client]aliased // the packet being processed, per client
}

type aliased struct{ own, alias uint16 }

func newPacketIDHook(srv *mqtt.Server) *packetIDHook {
	return &packetIDHook{srv: srv, ids: map[*mqtt.Client]aliased{}}
}

func (h *packetIDHook) ID() string { return "tether-packet-ids" }

func (h *packetIDHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnPacketRead, mqtt.OnPacketEncode, mqtt.OnDisconnect:
		return true
	}
	return false
}

// aliasedType reports whether mochi processes pk under an alias.
func aliasedType(pk packets.Packet) bool {
	switch pk.FixedHeader.Type {
	case packets.Publish:
		return pk.FixedHeader.Qos == 1
	case packets.Subscribe, packets.Unsubscribe:
		return true
	}
	return false
}

// OnPacketRead saves the client's id and hands mochi the packet under an
// alias.
func (h *packetIDHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || !aliasedType(pk) || pk.PacketID == 0 {
		return pk, nil
	}
	alias, err := cl.NextPacketID()
	if err != nil {
		return pk, nil // every id in flight; mochi refuses the packet as before
	}
	h.mu.Lock()
	h.ids[cl] = aliased{own: pk.PacketID, alias: uint16(alias)}
	h.mu.Unlock()
	pk.PacketID = uint16(alias)
	return pk, nil
}

// OnPacketEncode gives an acknowledgement of an aliased packet the
// client's id back.
func (h *packetIDHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	switch pk.FixedHeader.Type {
	case packets.Puback, packets.Suback, packets.Unsuback:
	default:
		return pk
	}
	h.mu.Lock()
	a, ok := h.ids[cl]
	h.mu.Unlock()
	if ok && pk.PacketID == a.alias {
		pk.PacketID = a.own
	}
	return pk
}

// OnDisconnect forgets the client. A connection that ended while mochi
// wrote a PUBACK leaves that acknowledgement in the session's in-flight
// map under the alias, and mochi would send it again on the next
// connection, where the client may use that id for another message: it is
// removed (the client publishes again what it had no PUBACK for).
func (h *packetIDHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.mu.Lock()
	a, ok := h.ids[cl]
	delete(h.ids, cl)
	h.mu.Unlock()
	if !ok {
		return
	}
	if pk, found := cl.State.Inflight.Get(a.alias); found && pk.FixedHeader.Type == packets.Puback {
		if cl.State.Inflight.Delete(a.alias) {
			atomic.AddInt64(&h.srv.Info.Inflight, -1)
		}
	}
}
