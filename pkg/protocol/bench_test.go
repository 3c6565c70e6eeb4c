package protocol

import (
	"encoding/json"
	"testing"
)

// The scheduler decodes every report of the region: at 10k nodes and one
// report a minute that is ~170 decodes/s, at 1 s sampling with busy nodes
// up to 10k/s.
func BenchmarkDecodeMetrics(b *testing.B) {
	data, err := json.Marshal(examples["metrics"])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeMetrics(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeMetrics(b *testing.B) {
	m := examples["metrics"].(Metrics)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseNodeTopic(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseNodeTopic("tether/v1/eu-1/nodes/raspberrypi-a1b2c3d4/metrics"); err != nil {
			b.Fatal(err)
		}
	}
}
