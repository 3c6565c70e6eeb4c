package mqttd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
)

// BenchmarkSessionStack reports the goroutine stack and heap a connected
// node session keeps once it has published: each of 500 MQTT 3.1.1
// sessions connects, publishes one QoS 1 metrics report that a Receiver
// decodes as the scheduler does (JSON), and reads its PUBACK; after three
// collections the sessions sit idle, as a fleet between reports does.
// Stacks grown while a message was applied stay grown while their
// goroutine lives, so this is what a fleet costs in steady state:
// go test -run X -bench SessionStack ./broker/mqttd/
func BenchmarkSessionStack(b *testing.B) {
	const clients = 500
	for b.Loop() {
		stack, heap := measurePublished(b, clients)
		b.ReportMetric(stack, "stack-B/session")
		b.ReportMetric(heap, "heap-B/session")
	}
}

func measurePublished(b *testing.B, n int) (stack, heap float64) {
	rx, err := NewReceiver("tether/v1/" + testRegion + "/nodes/+/metrics")
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{Addr: "127.0.0.1:0", Region: testRegion, AllowAnonymous: true, Receiver: rx})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-s.Ready()
	if err := rx.Start(func(m Message) error {
		var v map[string]any
		return json.Unmarshal(m.Payload, &v)
	}); err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"v":1,"node":"n","seq":1,"ts":"2026-12-05T08:00:00Z","cpu":{"total":12.5,"cores":[10,20,5,15]},"mem":{"used":1024,"total":4096},"store":{"id":"abc","boot":"def","up_ms":1234}}`)

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
		c.Write(publishQoS1("tether/v1/"+testRegion+"/nodes/"+id+"/metrics", payload))
		if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x40 {
			b.Fatalf("PUBACK %x: %v", ack, err)
		}
	}
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&after)
	return float64(after.StackInuse-before.StackInuse) / float64(n), float64(after.HeapInuse-before.HeapInuse) / float64(n)
}

// publishQoS1 is an MQTT 3.1.1 QoS 1 PUBLISH with packet id 1.
func publishQoS1(topic string, payload []byte) []byte {
	body := append([]byte{byte(len(topic) >> 8), byte(len(topic))}, topic...)
	body = append(body, 0, 1)
	body = append(body, payload...)
	n := len(body)
	hdr := []byte{0x32}
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		hdr = append(hdr, d)
		if n == 0 {
			break
		}
	}
	return append(hdr, body...)
}
