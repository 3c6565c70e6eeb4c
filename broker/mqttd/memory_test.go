package mqttd

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
)

// BenchmarkClientMemory reports the broker's heap per connected MQTT 3.1.1
// client (B/client) with Tether's sizing and with mochi's own defaults
// (8192 pending-write slots), so the numbers in Options' comments can be
// checked: go test -run X -bench ClientMemory ./broker/mqttd/
func BenchmarkClientMemory(b *testing.B) {
	for _, tc := range []struct {
		name    string
		pending int
	}{{"tether", 0}, {"mochi-default", 8192}} {
		b.Run(tc.name, func(b *testing.B) {
			const clients = 500
			for b.Loop() {
				perClient := measureClients(b, clients, tc.pending)
				b.ReportMetric(perClient, "B/client")
			}
		})
	}
}

func measureClients(b *testing.B, n, pending int) float64 {
	s, err := New(Options{Addr: "127.0.0.1:0", Region: testRegion, AllowAnonymous: true, MaxPendingWrites: pending})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-s.Ready()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		id := fmt.Sprintf("n%d", i)
		c.Write(connectPacket(id))
		ack := make([]byte, 4)
		if _, err := io.ReadFull(c, ack); err != nil || ack[3] != 0 {
			b.Fatalf("CONNACK %x: %v", ack, err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Heap plus goroutine stacks: what RSS grows by, minus allocator slack.
	used := (after.HeapInuse + after.StackInuse) - (before.HeapInuse + before.StackInuse)
	return float64(used) / float64(n)
}

// connectPacket is an MQTT 3.1.1 CONNECT with clean session, keepalive 60 s,
// client id and username id, and no password.
func connectPacket(id string) []byte {
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	var body []byte
	body = append(body, str("MQTT")...)
	body = append(body, 4, 0x82, 0, 60) // level 4; username + clean session; keepalive
	body = append(body, str(id)...)
	body = append(body, str(id)...)
	return append([]byte{0x10, byte(len(body))}, body...)
}
