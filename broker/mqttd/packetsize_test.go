package mqttd

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/pkg/testenv"
)

// publishHeader is the start of an MQTT 3.1.1 QoS 1 PUBLISH of size
// payload bytes to topic, packet id 1: everything before the payload.
func publishHeader(topic string, size int) []byte {
	remaining := 2 + len(topic) + 2 + size
	h := []byte{0x32}
	for {
		b := byte(remaining % 128)
		remaining /= 128
		if remaining > 0 {
			b |= 0x80
		}
		h = append(h, b)
		if remaining == 0 {
			break
		}
	}
	h = append(h, byte(len(topic)>>8), byte(len(topic)))
	h = append(h, topic...)
	return append(h, 0, 1)
}

// Twenty clients with the monitor's password each send a 10 MiB publish
// at once. Each is refused at its header, before the broker allocates it:
// the broker allocates a bounded amount, logs a bounded amount, and serves
// on.
func TestLargePublishFloodIsBounded(t *testing.T) {
	opts := testOptions(t)
	logs := &testenv.SyncBuffer{}
	opts.Logger = logger(logs)
	s := startServer(t, opts)
	addr := s.Addr().String()

	const clients, size = 20, 10 << 20
	payload := make([]byte, size) // shared by every writer; allocated before the baseline
	var conns []*rawClient
	for i := range clients {
		c, ok := rawConnect(t, addr, 4, "monitor", fmt.Sprintf("flood-%d", i))
		if !ok {
			t.Fatal("monitor refused")
		}
		conns = append(conns, c)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Errors are expected: the broker closes the connection.
			c.conn.Write(publishHeader("tether/v1/eu-1/fleet/nodes", size))
			c.conn.Write(payload)
		}()
	}
	for i, c := range conns {
		if !c.closed() {
			t.Errorf("client %d: the broker kept the connection of a 10 MiB publish", i)
		}
	}
	wg.Wait()

	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	// Without the limit the broker allocates every packet in full (200 MiB)
	// and logs each as decimal bytes (~660 MiB). The bound is generous: the
	// test's clients and the race detector allocate too.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("the flood allocated %d MiB", alloc>>20)
	}
	if n := len(logs.String()); n > 256<<10 {
		t.Errorf("the flood wrote %d KiB of log", n>>10)
	}
	t.Logf("flood of %d × %d MiB: %d KiB allocated, %d KiB of log, heap in use %d → %d MiB",
		clients, size>>20, (after.TotalAlloc-before.TotalAlloc)>>10, len(logs.String())>>10, before.HeapInuse>>20, after.HeapInuse>>20)

	mustDial(t, addr, "monitor") // the broker is fine
}

// A client that is not the scheduler may send packets up to
// MaxClientPacketSize; one larger closes its connection. The scheduler
// keeps MaxPacketSize (its retained fleet table is large).
func TestClientPacketSize(t *testing.T) {
	opts := testOptions(t)
	opts.MaxClientPacketSize = 32 << 10
	s := startServer(t, opts)
	addr := s.Addr().String()

	node, _ := rawConnect(t, addr, 4, "node-a", "node-a")
	node.publish(nodeA+"/metrics", 1, false, make([]byte, 30<<10))
	if typ, _ := node.read(); typ != packets.Puback {
		t.Fatalf("a 30 KiB publish: packet type %d, want PUBACK", typ)
	}
	node.publish(nodeA+"/metrics", 1, false, make([]byte, 40<<10))
	if !node.closed() {
		t.Error("a 40 KiB publish over the 32 KiB limit was accepted")
	}

	sched := mustDial(t, addr, "scheduler")
	sched.mustPublish("tether/v1/eu-1/fleet/nodes", 1, strings.Repeat("f", 1<<20))
	if sched.isLost(0) {
		t.Error("the scheduler's 1 MiB publish closed its connection")
	}
}
