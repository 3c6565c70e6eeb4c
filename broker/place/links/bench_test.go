package links

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSave10k is the links object a scheduler writes to its file and,
// under ha, to the region's blob bucket (at most once a minute, when the
// estimates changed): a 10,000-node table with a round trip and both
// transfer directions measured for every node. It reports the object's
// size.
func BenchmarkSave10k(b *testing.B) {
	tb := NewTable()
	now := time.Hour
	for i := range 10000 {
		node := fmt.Sprintf("pi-%05d", i)
		for j := range 3 {
			at := now + time.Duration(j)*time.Second
			if _, err := tb.ObserveRTT(node, time.Duration(20+i%50)*time.Millisecond, at); err != nil {
				b.Fatal(err)
			}
			if _, _, err := tb.ObserveTransfer(node, 4<<20, time.Duration(400+i%300)*time.Millisecond, at); err != nil {
				b.Fatal(err)
			}
			if _, _, err := tb.ObserveUpTransfer(node, 4<<20, time.Duration(900+i%300)*time.Millisecond, at); err != nil {
				b.Fatal(err)
			}
		}
	}
	wall := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	var size int
	b.ReportAllocs()
	for b.Loop() {
		data, err := Encode(tb.Save(wall, now+time.Minute))
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	b.ReportMetric(float64(size), "bytes/object")
}
