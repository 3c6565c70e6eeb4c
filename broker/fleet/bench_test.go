package fleet

import (
	"fmt"
	"testing"
)

// BenchmarkHandleMetrics is the scheduler's per-report cost in a fleet of
// 10k nodes (decoding excluded: see protocol.BenchmarkDecodeMetrics).
func BenchmarkHandleMetrics(b *testing.B) {
	f, _ := newFleet()
	const nodes = 10000
	ids := make([]string, nodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("pi-%05d", i)
		f.HandleStatus(birth(ids[i], "i", 1), false)
	}
	seq := make([]uint64, nodes)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n := i % nodes
		seq[n]++
		f.HandleMetrics(metrics(ids[n], "i", seq[n]+1, 10))
		i++
	}
}

// BenchmarkTable is the cost of building the retained fleet table.
func BenchmarkTable(b *testing.B) {
	for _, nodes := range []int{1000, 10000} {
		b.Run(fmt.Sprint(nodes), func(b *testing.B) {
			f, _ := newFleet()
			for i := range nodes {
				id := fmt.Sprintf("pi-%05d", i)
				f.HandleStatus(birth(id, "i", 1), false)
				f.HandleMetrics(metrics(id, "i", 2, 10))
			}
			b.ReportAllocs()
			for b.Loop() {
				if len(f.Table().Nodes) != nodes {
					b.Fatal("rows missing")
				}
			}
		})
	}
}
