package mqttd

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/pkg/protocol"
)

// got records what a receiver's handler was handed.
type got struct {
	mu   sync.Mutex // guards msgs
	msgs []Message
}

func (g *got) add(m Message) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m.Payload = append([]byte(nil), m.Payload...)
	g.msgs = append(g.msgs, m)
}

func (g *got) all() []Message {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Message(nil), g.msgs...)
}

func receiverServer(t *testing.T, filters ...string) (*Server, *Receiver) {
	t.Helper()
	r, err := NewReceiver(filters...)
	if err != nil {
		t.Fatal(err)
	}
	o := testOptions(t)
	o.Receiver = r
	s := startServer(t, o)
	t.Cleanup(r.Stop)
	return s, r
}

// TestReceiverAppliesBeforeAck: a publisher gets its PUBACK only once the
// receiver's handler has returned, and a monitor gets the message only
// after that too; a slow handler holds only its own publisher.
func TestReceiverAppliesBeforeAck(t *testing.T) {
	topics, _ := protocol.NewTopics(testRegion)
	s, r := receiverServer(t, topics.AllNodeMetrics())
	addr := s.Addr().String()
	release := make(chan struct{})
	var g got
	if err := r.Start(func(m Message) error {
		if string(m.Payload) == "slow" {
			<-release
		}
		g.add(m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mon := mustDial(t, addr, "monitor")
	mon.subscribe(topics.AllNodeMetrics(), 1)
	a, b := mustDial(t, addr, "node-a"), mustDial(t, addr, "node-b")

	slow := a.pc.Publish(topics.NodeMetrics("node-a"), 1, false, "slow")
	b.mustPublish(topics.NodeMetrics("node-b"), 1, "quick") // not held behind node-a
	if slow.WaitTimeout(300 * time.Millisecond) {
		t.Fatalf("node-a acknowledged (err %v) before its message was applied", slow.Error())
	}
	mon.await("quick")
	close(release)
	if !slow.WaitTimeout(5*time.Second) || slow.Error() != nil {
		t.Fatalf("node-a: no PUBACK once applied: %v", slow.Error())
	}
	mon.await("slow")
	msgs := g.all()
	if len(msgs) != 2 || string(msgs[0].Payload) != "quick" || string(msgs[1].Payload) != "slow" || msgs[1].Retained {
		t.Fatalf("handler got %+v", msgs)
	}
}

// TestReceiverRefusesWhatItCannotApply: a handler's error and a stopped
// receiver leave the publish unacknowledged, unretained and unrouted.
func TestReceiverRefusesWhatItCannotApply(t *testing.T) {
	topics, _ := protocol.NewTopics(testRegion)
	s, r := receiverServer(t, topics.AllNodeStatus())
	addr := s.Addr().String()
	if err := r.Start(func(m Message) error {
		if string(m.Payload) == "bad" {
			return errors.New("cannot apply")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mon := mustDial(t, addr, "monitor")
	mon.subscribe(topics.AllNodeStatus(), 1)
	a := mustDial(t, addr, "node-a")
	bad := a.pc.Publish(topics.NodeStatus("node-a"), 1, true, "bad")
	if good := a.pc.Publish(topics.NodeStatus("node-a"), 1, true, "good"); !good.WaitTimeout(5*time.Second) || good.Error() != nil {
		t.Fatalf("good: no PUBACK: %v", good.Error()) // handled after bad
	}
	if bad.WaitTimeout(200*time.Millisecond) && bad.Error() == nil {
		t.Fatal("a message the handler refused was acknowledged")
	}
	if msgs := mon.await("good"); contains(msgs, "bad") {
		t.Fatal("a refused message was routed")
	}
	r.Stop()
	after := a.pc.Publish(topics.NodeStatus("node-a"), 1, true, "after-stop")
	if after.WaitTimeout(200*time.Millisecond) && after.Error() == nil {
		t.Fatal("a message after Stop was acknowledged")
	}
	late := mustDial(t, addr, "operator")
	late.subscribe(topics.AllNodeStatus(), 1)
	if msgs := late.await("good"); len(msgs) != 1 {
		t.Fatalf("retained: %d messages, want only \"good\"", len(msgs))
	}
}

// TestReceiverHoldsUntilStart: publishes before Start wait unacknowledged;
// Start replays the retained messages (Retained true), then applies the
// held ones in their order, so the replay never overtakes them.
func TestReceiverHoldsUntilStart(t *testing.T) {
	topics, _ := protocol.NewTopics(testRegion)
	s, r := receiverServer(t, topics.AllNodeStatus(), topics.AllNodeMetrics())
	addr := s.Addr().String()
	// A birth retained before this broker ran (as a persisted one would be).
	s.mochi.Topics.RetainMessage(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
		TopicName: topics.NodeStatus("node-b"), Payload: []byte("birth-b")})
	a := mustDial(t, addr, "node-a")
	const n = 5
	var toks []interface{ WaitTimeout(time.Duration) bool }
	for i := range n {
		toks = append(toks, a.pc.Publish(topics.NodeMetrics("node-a"), 1, false, strconv.Itoa(i)))
	}
	if toks[0].WaitTimeout(300 * time.Millisecond) {
		t.Fatal("acknowledged before the receiver started")
	}
	var g got
	if err := r.Start(func(m Message) error { g.add(m); return nil }); err != nil {
		t.Fatal(err)
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(5 * time.Second) {
			t.Fatalf("message %d: no PUBACK after Start", i)
		}
	}
	msgs := g.all()
	if len(msgs) != n+1 || msgs[0].Topic != topics.NodeStatus("node-b") || !msgs[0].Retained {
		t.Fatalf("handler got %+v", msgs)
	}
	for i, m := range msgs[1:] {
		if string(m.Payload) != strconv.Itoa(i) || m.Retained {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	if r.Start(func(Message) error { return nil }) == nil {
		t.Fatal("a second Start was accepted")
	}
}
