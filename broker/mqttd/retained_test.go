package mqttd

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/pkg/testenv"
)

// TestRetainedReplayIsComplete: a new subscriber to 6,000 retained topics
// gets every one of them, at QoS 1 and 0, although its pending-writes queue
// (MaxPendingWrites, 1,024 by default) holds a sixth of them — mochi alone
// dropped what did not fit.
func TestRetainedReplayIsComplete(t *testing.T) {
	const topics = 6000
	s := startServer(t, testOptions(t))
	addr := s.Addr().String()
	sched := mustDial(t, addr, "scheduler")
	retainMany(t, sched, topics, func(i int) string { return fmt.Sprintf("tether/v1/%s/nodes/n-%05d/status", testRegion, i) })
	sched.barrier()
	for _, qos := range []byte{1, 0} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			mon := mustDial(t, addr, "monitor")
			got := map[string]bool{}
			done := make(chan struct{})
			go func() {
				defer close(done)
				// The replay looks 6,000 messages up before it sends the
				// first (seconds with -race on a busy host): the bound is
				// on the whole, not on a pause between two messages.
				deadline := time.After(60 * time.Second)
				for len(got) < topics {
					select {
					case m := <-mon.msgs:
						if m.Retained() {
							got[m.Topic()] = true
						}
					case <-deadline:
						return
					}
				}
			}()
			if code := mon.subscribe(fmt.Sprintf("tether/v1/%s/nodes/+/status", testRegion), qos); code != qos {
				t.Fatalf("subscription granted %#x", code)
			}
			<-done
			if len(got) != topics {
				t.Fatalf("a new subscriber got %d of %d retained messages", len(got), topics)
			}
		})
	}
}

// TestSubackPrecedesTheRetainedReplay: a subscriber's SUBACK is written
// before any retained message its subscription matches. A client reads its
// connection in order, so a SUBACK behind thousands of retained messages
// arrived only after they were all read, and on a busy host after the
// client's subscribe had timed out (TestRetainedReplayIsComplete under
// load). Here the SUBACK's encoding waits up to a second for a retained
// message to be written first; none may be.
func TestSubackPrecedesTheRetainedReplay(t *testing.T) {
	s := startServer(t, testOptions(t))
	addr := s.Addr().String()
	sched := mustDial(t, addr, "scheduler")
	topic := fmt.Sprintf("tether/v1/%s/nodes/n-00001/status", testRegion)
	if tok := sched.pc.Publish(topic, 1, true, `{"n":1}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("retained publish: %v", tok.Error())
	}
	sched.barrier()
	held := &subackHolder{sent: make(chan struct{})}
	if err := s.mochi.AddHook(held, nil); err != nil {
		t.Fatal(err)
	}
	for _, qos := range []byte{0, 1} {
		mon, ok := rawConnect(t, addr, 4, "monitor", fmt.Sprintf("monitor-%d", qos))
		if !ok {
			t.Fatal("monitor refused")
		}
		mon.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: fmt.Sprintf("tether/v1/%s/nodes/+/status", testRegion), Qos: qos}}})
		if typ, _ := mon.read(); typ != packets.Suback {
			t.Fatalf("QoS %d: the first packet after SUBSCRIBE is of type %d, not a SUBACK", qos, typ)
		}
		if pk := mon.next(packets.Publish); pk.TopicName != topic || !pk.FixedHeader.Retain {
			t.Fatalf("QoS %d: after the SUBACK %q (retain %v), want the retained %q", qos, pk.TopicName, pk.FixedHeader.Retain, topic)
		}
	}
}

// subackHolder delays every SUBACK's encoding until a retained PUBLISH
// has been written to any client, or a second has passed.
type subackHolder struct {
	mqtt.HookBase
	once sync.Once
	sent chan struct{}
}

func (h *subackHolder) ID() string { return "test-suback-holder" }

func (h *subackHolder) Provides(b byte) bool {
	return b == mqtt.OnPacketEncode || b == mqtt.OnPacketSent
}

func (h *subackHolder) OnPacketEncode(_ *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Suback {
		select {
		case <-h.sent:
		case <-time.After(time.Second):
		}
	}
	return pk
}

func (h *subackHolder) OnPacketSent(_ *mqtt.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type == packets.Publish && pk.FixedHeader.Retain {
		h.once.Do(func() { close(h.sent) })
	}
}

// TestSubscribeSpamIsBounded: a monitor that never acknowledges subscribes
// to tether/v1/# 300 times over 2,000 retained rows. Its replays run one at
// a time and hold topic names, not messages: the broker gains a handful of
// goroutines and a few MiB, where each SUBSCRIBE had started a goroutine
// holding a copy of every row (312 goroutines, 570 MiB). A monitor that
// subscribes after it still gets every row.
func TestSubscribeSpamIsBounded(t *testing.T) { // not parallel: it measures the process's heap
	const rows = 2000
	s := startServer(t, testOptions(t))
	addr := s.Addr().String()
	sched := mustDial(t, addr, "scheduler")
	retainMany(t, sched, rows, func(i int) string { return fmt.Sprintf("tether/v1/%s/fleet/nodes/pi-%04d", testRegion, i) })
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	h0, g0 := heap(), runtime.NumGoroutine()
	spam := dialSlowConsumer(t, addr, "monitor", true, "tether/v1/#") // never acknowledges
	for range 299 {
		if tok := spam.pc.Subscribe("tether/v1/#", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
	}
	time.Sleep(500 * time.Millisecond) // kept: replays that would start have started
	h1, g1 := heap(), runtime.NumGoroutine()
	t.Logf("300 subscriptions of a client that never acknowledges: goroutines %d → %d, heap in use %d → %d MiB", g0, g1, h0>>20, h1>>20)
	if g1-g0 > 20 {
		t.Errorf("%d more goroutines after 300 subscriptions of one client", g1-g0)
	}
	if h1 > h0 && h1-h0 > 32<<20 {
		t.Errorf("heap in use grew by %d MiB after 300 subscriptions of one client", (h1-h0)>>20)
	}
	mon := dialSlowConsumer(t, addr, "operator", true, "tether/v1/#")
	mon.ackAll()
	testenv.Eventually(t, 30*time.Second, "every row replayed to a monitor subscribing after", func() bool { return len(mon.received()) >= rows })
}

// retainMany has c retain n messages of ~220 bytes, message i on topic(i),
// and waits for every PUBACK.
func retainMany(t *testing.T, c *client, n int, topic func(int) string) {
	t.Helper()
	toks := make([]paho.Token, n)
	for i := range n {
		toks[i] = c.pc.Publish(topic(i), 1, true, fmt.Sprintf(`{"n":%d,"pad":"%0200d"}`, i, 0))
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("retained publish: %v", tok.Error())
		}
	}
}
