package mqttd

import (
	"fmt"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// inFlightTo connects node-a (raw, protocol v, clean as given), subscribes
// it to its commands, has the scheduler send it one QoS 1 command and
// returns the node with that PUBLISH read and not acknowledged: the
// broker waits for a PUBACK of the returned id.
func inFlightTo(t *testing.T, addr string, v byte, clean bool, payload string, edit ...func(*packets.Packet)) (*rawClient, uint16) {
	t.Helper()
	node, ok := rawConnectClean(t, addr, v, "node-a", "node-a", clean, edit...)
	if !ok {
		t.Fatal("node-a refused")
	}
	node.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: 7,
		Filters: packets.Subscriptions{{Filter: "tether/v1/eu-1/nodes/node-a/cmd/#", Qos: 1}}})
	if ack := node.next(packets.Suback); len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != 1 {
		t.Fatalf("command subscription: SUBACK %v", ack.ReasonCodes)
	}
	sched := mustDial(t, addr, "scheduler")
	sched.mustPublish("tether/v1/eu-1/nodes/node-a/cmd/run", 1, payload)
	pub := node.next(packets.Publish)
	if string(pub.Payload) != payload || pub.FixedHeader.Qos != 1 {
		t.Fatalf("node got %q at QoS %d", pub.Payload, pub.FixedHeader.Qos)
	}
	return node, pub.PacketID
}

// TestSubscribeWithTheIDOfAMessageInFlight: a client's SUBSCRIBE and
// UNSUBSCRIBE may use the id of a message the broker is sending it (each
// side numbers its own packets); the broker grants them, and answers
// with the client's id. mochi alone refused both with 0x91, which a 3.1.1
// client reads as a failed subscription: a monitor subscribing while its
// retained replay was in flight never got the fleet rows.
func TestSubscribeWithTheIDOfAMessageInFlight(t *testing.T) {
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			s := startServer(t, testOptions(t))
			node, id := inFlightTo(t, s.Addr().String(), v, true, "cmd-1")
			node.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: id,
				Filters: packets.Subscriptions{{Filter: "tether/v1/eu-1/nodes/node-a/cmd/x", Qos: 1}}})
			ack := node.next(packets.Suback)
			if ack.PacketID != id || len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != 1 {
				t.Fatalf("SUBSCRIBE with id %d: SUBACK id %d codes %v, want id %d granted QoS 1", id, ack.PacketID, ack.ReasonCodes, id)
			}
			node.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe}, PacketID: id,
				Filters: packets.Subscriptions{{Filter: "tether/v1/eu-1/nodes/node-a/cmd/x"}}})
			un := node.next(packets.Unsuback)
			if un.PacketID != id {
				t.Fatalf("UNSUBACK id %d, want %d", un.PacketID, id)
			}
			if v == 5 && (len(un.ReasonCodes) != 1 || un.ReasonCodes[0] != packets.CodeSuccess.Code) {
				t.Fatalf("UNSUBSCRIBE with id %d: codes %v, want success", id, un.ReasonCodes)
			}
		})
	}
}

// TestOwnPublishKeepsTheBrokersMessage: a persistent session's QoS 1
// PUBLISH with the id of a message the broker is sending it gets its
// PUBACK with that id, and the broker's message is still sent again after
// a reconnect. mochi alone deleted the broker's message (acknowledged to
// the scheduler, so lost for good) and leaked a send-quota slot.
func TestOwnPublishKeepsTheBrokersMessage(t *testing.T) {
	s := startServer(t, testOptions(t))
	addr := s.Addr().String()
	node, id := inFlightTo(t, addr, 4, false, "cmd-1")
	node.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: id,
		TopicName: "tether/v1/eu-1/nodes/node-a/metrics", Payload: []byte(`{}`)})
	if ack := node.next(packets.Puback); ack.PacketID != id {
		t.Fatalf("PUBACK id %d, want %d", ack.PacketID, id)
	}
	node.conn.Close()
	var again *rawClient
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, ok := rawConnectClean(t, addr, 4, "node-a", "node-a", false)
		if ok {
			again = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node-a not accepted again")
		}
		time.Sleep(50 * time.Millisecond) // kept: each look opens a connection, so not testenv's 5 ms
	}
	pub := again.next(packets.Publish)
	if string(pub.Payload) != "cmd-1" || pub.PacketID != id {
		t.Fatalf("after the reconnect: %q id %d, want cmd-1 id %d again", pub.Payload, pub.PacketID, id)
	}
}

// TestCollidingIDsLeakNoSendQuota: an MQTT 5 connection with a Receive
// Maximum whose every QoS 1 PUBLISH uses the id of the command it was just
// sent keeps getting commands, more of them than its Receive Maximum.
// mochi alone lost one slot of the client's send quota per collision and,
// at none left, queued every further command for the connection without
// sending it. (mochi enforces no send quota on MQTT 3.1.1 clients.)
func TestCollidingIDsLeakNoSendQuota(t *testing.T) {
	s := startServer(t, testOptions(t))
	addr := s.Addr().String()
	const receiveMax = 8
	node, id := inFlightTo(t, addr, 5, true, "cmd-0", func(pk *packets.Packet) {
		pk.Properties.ReceiveMaximum = receiveMax
	})
	sched := mustDial(t, addr, "scheduler")
	for i := 1; i <= 3*receiveMax; i++ {
		node.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: id,
			TopicName: "tether/v1/eu-1/nodes/node-a/metrics", Payload: []byte(`{}`)})
		if ack := node.next(packets.Puback); ack.PacketID != id {
			t.Fatalf("round %d: PUBACK id %d, want %d", i, ack.PacketID, id)
		}
		node.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id})
		payload := fmt.Sprintf("cmd-%d", i)
		sched.mustPublish("tether/v1/eu-1/nodes/node-a/cmd/run", 1, payload)
		pub := node.next(packets.Publish)
		if string(pub.Payload) != payload {
			t.Fatalf("round %d: got %q, want %q", i, pub.Payload, payload)
		}
		id = pub.PacketID
	}
}
