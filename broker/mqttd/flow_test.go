package mqttd

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/testenv"
)

// slowConsumer is a paho session that acknowledges what it receives only
// when told to (ackAll), so its session on the broker fills up.
type slowConsumer struct {
	t    testing.TB
	pc   paho.Client
	mu   sync.Mutex // guards got and unacked
	got  []string
	todo []paho.Message
	auto bool // acknowledge on receipt from now on
}

func dialSlowConsumer(t testing.TB, addr, user string, clean bool, filter string) *slowConsumer {
	t.Helper()
	c := &slowConsumer{t: t}
	po := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(user).SetProtocolVersion(4).
		SetUsername(user).SetPassword(password(user)).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectRetry(false).SetAutoAckDisabled(true).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.got = append(c.got, string(m.Payload()))
			if c.auto {
				m.Ack()
				return
			}
			c.todo = append(c.todo, m)
		})
	c.pc = paho.NewClient(po)
	if tok := c.pc.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: connect: %v", user, tok.Error())
	}
	t.Cleanup(func() { c.pc.Disconnect(50) })
	if tok := c.pc.Subscribe(filter, 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: subscribe: %v", user, tok.Error())
	}
	return c
}

func (c *slowConsumer) received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

// ackAll acknowledges what was received and, from now on, everything on
// receipt.
func (c *slowConsumer) ackAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.todo {
		m.Ack()
	}
	c.todo, c.auto = nil, true
}

func flowOptions(t testing.TB) Options {
	o := testOptions(t)
	o.MaxInflight, o.MaxPendingWrites = 16, 16
	return o
}

// TestSlowSchedulerHoldsPublisher: a scheduler that does not acknowledge
// fills its persistent session; the next node message is not acknowledged
// to the node until the scheduler makes room, and every message the node
// had acknowledged reaches the scheduler, in order, none missing.
func TestSlowSchedulerHoldsPublisher(t *testing.T) {
	s := startServer(t, flowOptions(t))
	addr := s.Addr().String()
	topics, _ := protocol.NewTopics(testRegion)
	sched := dialSlowConsumer(t, addr, "scheduler", false, topics.AllNodeMetrics())
	node := mustDial(t, addr, "node-a")

	const n = 40
	toks := make([]paho.Token, n)
	for i := range n {
		toks[i] = node.pc.Publish(topics.NodeMetrics("node-a"), 1, false, strconv.Itoa(i))
	}
	testenv.Eventually(t, 10*time.Second, "the scheduler's session full", func() bool { return len(sched.received()) == 16 })
	// The session is full: the node's next message is held before its
	// PUBACK. mochi answers a publish it routes within microseconds.
	if toks[16].WaitTimeout(300 * time.Millisecond) {
		t.Fatalf("message 16 acknowledged (err %v) while the scheduler's session was full", toks[16].Error())
	}
	sched.ackAll()
	for i, tok := range toks {
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("message %d: no PUBACK after the scheduler made room: %v", i, tok.Error())
		}
	}
	testenv.Eventually(t, 10*time.Second, "every acknowledged message at the scheduler", func() bool { return len(sched.received()) >= n })
	for i, p := range sched.received()[:n] {
		if p != strconv.Itoa(i) {
			t.Fatalf("scheduler got %q as message %d; all: %v", p, i, sched.received())
		}
	}
}

// TestSchedulerRefusedByFullSession: a scheduler is never held (nodes
// wait for its session); a message of its that meets a full persistent
// session gets no PUBACK and is not delivered, while its other messages
// still go through.
func TestSchedulerRefusedByFullSession(t *testing.T) {
	s := startServer(t, flowOptions(t))
	addr := s.Addr().String()
	topics, _ := protocol.NewTopics(testRegion)
	nodeB := dialSlowConsumer(t, addr, "node-b", false, topics.NodeCommands("node-b"))
	nodeA := dialSlowConsumer(t, addr, "node-a", false, topics.NodeCommands("node-a"))
	nodeA.ackAll()
	sched := mustDial(t, addr, "scheduler")

	for i := range 16 {
		sched.mustPublish(topics.NodeCommand("node-b", "c"), 1, strconv.Itoa(i))
	}
	refused := sched.pc.Publish(topics.NodeCommand("node-b", "c"), 1, false, "refused")
	// Not held: its next message, to another node, is acknowledged. mochi
	// handles a connection's packets in order, so the refused one was
	// handled before.
	sched.mustPublish(topics.NodeCommand("node-a", "c"), 1, "to-a")
	testenv.Eventually(t, 10*time.Second, "node-b's session full", func() bool { return len(nodeB.received()) == 16 })
	nodeB.ackAll()
	testenv.Eventually(t, 10*time.Second, "room in node-b's session", func() bool {
		return s.mochi.Clients.GetAll()["node-b"].State.Inflight.Len() == 0
	})
	sched.mustPublish(topics.NodeCommand("node-b", "c"), 1, "after")
	testenv.Eventually(t, 10*time.Second, "node-b got the message after", func() bool { return len(nodeB.received()) == 17 })
	if refused.WaitTimeout(0) {
		t.Fatalf("the refused message was acknowledged (err %v)", refused.Error())
	}
	for _, p := range nodeB.received() {
		if p == "refused" {
			t.Fatal("the unacknowledged message was delivered")
		}
	}
}

// TestSlowMonitorDoesNotHold: a clean-session subscriber that stops
// acknowledging holds nobody; it misses what does not fit its session.
func TestSlowMonitorDoesNotHold(t *testing.T) {
	s := startServer(t, flowOptions(t))
	addr := s.Addr().String()
	topics, _ := protocol.NewTopics(testRegion)
	mon := dialSlowConsumer(t, addr, "monitor", true, "tether/v1/#")
	node := mustDial(t, addr, "node-a")
	for i := range 40 {
		node.mustPublish(topics.NodeMetrics("node-a"), 1, fmt.Sprint(i))
	}
	if got := len(mon.received()); got > 16 {
		t.Fatalf("monitor received %d messages with room for 16", got)
	}
}

// TestAwayWatcherHoldsNobody: a monitor and an operator with persistent
// sessions that subscribed to everything and went away have their offline
// queues fill; neither holds a node nor refuses the scheduler (before,
// the region stopped there until the sessions expired, 7 days later), and
// the scheduler's own session still gets every acknowledged message, in
// order.
func TestAwayWatcherHoldsNobody(t *testing.T) {
	s := startServer(t, flowOptions(t))
	addr := s.Addr().String()
	topics, _ := protocol.NewTopics(testRegion)
	for _, u := range []string{"monitor", "operator"} {
		w := dialSlowConsumer(t, addr, u, false, "tether/v1/#")
		w.pc.Disconnect(0)
	}
	sched := dialSlowConsumer(t, addr, "scheduler", false, topics.AllNodeMetrics())
	sched.ackAll()
	node := mustDial(t, addr, "node-a")
	const n = 40 // well past the watchers' room for 16
	for i := range n {
		tok := node.pc.Publish(topics.NodeMetrics("node-a"), 1, false, strconv.Itoa(i))
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("node message %d: no PUBACK while a watcher's persistent session is away and full: %v", i, tok.Error())
		}
	}
	for i := range n {
		tok := sched.pc.Publish(topics.FleetRow(fmt.Sprintf("pi-%02d", i)), 1, true, "row")
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("fleet row %d: not acknowledged to the scheduler while a watcher's session is away and full: %v", i, tok.Error())
		}
	}
	testenv.Eventually(t, 10*time.Second, "every node message at the scheduler", func() bool { return len(sched.received()) >= n })
	for i, p := range sched.received()[:n] {
		if p != strconv.Itoa(i) {
			t.Fatalf("scheduler got %q as message %d", p, i)
		}
	}
	for _, u := range []string{"monitor", "operator"} {
		if cl, ok := s.mochi.Clients.Get(u); !ok || cl.State.Inflight.Len() == 0 {
			t.Fatalf("%s's session is gone or empty: the test did not fill an away session", u)
		}
	}
}

// TestWillWaitsForRoom: a node whose connection breaks while the
// scheduler's session is full has its will delivered once there is room,
// not dropped.
func TestWillWaitsForRoom(t *testing.T) {
	s := startServer(t, flowOptions(t))
	addr := s.Addr().String()
	topics, _ := protocol.NewTopics(testRegion)
	sched := dialSlowConsumer(t, addr, "scheduler", false, topics.AllNodeStatus())
	nodeB := mustDial(t, addr, "node-b")
	for i := range 16 {
		nodeB.mustPublish(topics.NodeStatus("node-b"), 1, strconv.Itoa(i))
	}
	testenv.Eventually(t, 10*time.Second, "the scheduler's session full", func() bool { return len(sched.received()) == 16 })

	// node-a: a bare connection with a will, closed without DISCONNECT.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	body := append(str("MQTT"), 4, 0xC0|0x08|0x04, 0, 60) // user, password, will QoS 1, will; clean session
	for _, f := range []string{"node-a", topics.NodeStatus("node-a"), "gone", "node-a", password("node-a")} {
		body = append(body, str(f)...)
	}
	if _, err := c.Write(append([]byte{0x10, byte(len(body))}, body...)); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil || ack[3] != 0 {
		t.Fatalf("CONNACK %x: %v", ack, err)
	}
	c.Close()
	testenv.Eventually(t, 10*time.Second, "node-a's will held", func() bool {
		s.flow.mu.Lock()
		defer s.flow.mu.Unlock()
		r := s.flow.rooms["scheduler"]
		return r != nil && r.waiters > 0
	})
	sched.ackAll()
	testenv.Eventually(t, 10*time.Second, "the will at the scheduler", func() bool {
		for _, p := range sched.received() {
			if p == "gone" {
				return true
			}
		}
		return false
	})
}
