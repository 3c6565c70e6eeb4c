package ha

import (
	"fmt"
	"testing"

	"github.com/tether-edge/tether/broker/taskengine"
)

// BenchmarkIndexTaskLifecycle is the in-memory index's share of one task's
// life in a store that holds a steady number of finished tasks: its record
// added under a/, then moved to f/ (one write removing a/…, one adding
// f/…), and the oldest finished task dropped, as retention does. The
// stream is not involved; this is what the scheduler's engine pays under
// the index's lock per task of a burst.
func BenchmarkIndexTaskLifecycle(b *testing.B) {
	for _, held := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("finished=%d", held), func(b *testing.B) {
			be := newIndexOnly()
			name := func(i int) string { return fmt.Sprintf("%012d", i) }
			for i := range held {
				be.apply([]taskengine.Write{{Key: []byte("f/" + name(i)), Value: []byte("{}")}})
			}
			val := []byte(`{"state":"pending"}`)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				id := name(held + i)
				be.apply([]taskengine.Write{{Key: []byte("a/" + id), Value: val}})
				be.apply([]taskengine.Write{{Key: []byte("a/" + id)}, {Key: []byte("f/" + id), Value: val}, {Key: []byte("f/" + name(i))}})
			}
		})
	}
}

func newIndexOnly() *backend { return newBackend(nil) }
