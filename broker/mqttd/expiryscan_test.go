package mqttd

import (
	"fmt"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// BenchmarkRetainedExpiryScan is the broker's once-a-second scan of its
// retained messages for expired ones, at a 10,000-node region's 20,000
// (a status and a fleet row each), none expired: mochi as released copied
// every message (GetAll); Tether's copy reads their keys (KeysWhere,
// pkg/third_party/mochi).
// go test -run X -bench RetainedExpiryScan -benchmem ./broker/mqttd/
func BenchmarkRetainedExpiryScan(b *testing.B) {
	retained := packets.NewPackets()
	for i := range 20000 {
		topic := fmt.Sprintf("tether/v1/default/nodes/pi-%05d/status", i)
		retained.Add(topic, packets.Packet{TopicName: topic, Payload: make([]byte, 400), Created: 1, ProtocolVersion: 4})
	}
	expired := func(pk packets.Packet) bool { return pk.ProtocolVersion == 5 && pk.Expiry > 0 && pk.Expiry < 2 }
	b.Run("copy", func(b *testing.B) {
		for b.Loop() {
			n := 0
			for _, pk := range retained.GetAll() {
				if expired(pk) {
					n++
				}
			}
			if n != 0 {
				b.Fatal(n)
			}
		}
	})
	b.Run("keys", func(b *testing.B) {
		for b.Loop() {
			if keys := retained.KeysWhere(expired); len(keys) != 0 {
				b.Fatal(len(keys))
			}
		}
	})
}
