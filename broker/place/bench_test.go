package place

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

// benchFleet builds n edge nodes (30 % Zero-class, 50 % Pi 4-class, 20 % Pi 5-class) plus a
// cloud pool, with about two tasks per node already assigned and running.
func benchFleet(b *testing.B, n int) *View {
	rng := seeded(b, 1)
	f := NewView(wan, ViewOptions{})
	for k := 0; k < n; k++ {
		speed := 1.0
		switch r := rng.Float64(); {
		case r < 0.3:
			speed = 0.4
		case r > 0.8:
			speed = 2
		}
		f.AddNode(edgeNode(fmt.Sprintf("n%d", k), speed))
	}
	f.AddNode(cloudPool())
	id := uint64(1 << 40)
	for k := 0; k < 2*n; k++ {
		id++
		i := rng.IntN(n)
		f.Assign(i, task(id, 1+rng.Float64()), 0)
		f.Started(i, id, 0)
	}
	return f
}

// BenchmarkDecision measures one placement decision (Pick) plus the bookkeeping the scheduler
// does around it (Assign, Started, and the Finished of an earlier task), at steady state. It
// reports the p99 of Pick+Assign alone as p99-ns.
func BenchmarkDecision(b *testing.B) {
	for _, pol := range []string{"tether", "p2c", "wrandom", "least-work"} {
		for _, n := range []int{1000, 10000, 100000} {
			if pol == "least-work" && n > 10000 && testing.Short() {
				continue
			}
			b.Run(fmt.Sprintf("%s/nodes=%d", pol, n), func(b *testing.B) {
				f := benchFleet(b, n)
				p, err := NewRegistry().New(pol, Env{Rand: seeded(b, 2)})
				if err != nil {
					b.Fatal(err)
				}
				rng := seeded(b, 3)
				const window = 4096 // tasks in flight, finished in FIFO order
				type flight struct {
					node int
					id   uint64
				}
				ring := make([]flight, 0, window)
				lat := make([]time.Duration, 0, min(b.N, 1<<20))
				tasks := make([]Task, window)
				b.ReportAllocs()
				b.ResetTimer()
				for k := 0; k < b.N; k++ {
					now := float64(k) * 1e-3
					tk := &tasks[k%window]
					*tk = Task{ID: uint64(k + 1), Class: k % 4, Work: 0.5 + rng.Float64(),
						InBytes: 1e5, OutBytes: 1e4, Source: rng.IntN(n), Deadline: now + 5}
					start := time.Now()
					d := p.Dispatcher.Pick(f, tk, now)
					f.Assign(d.Node, tk, now)
					if len(lat) < cap(lat) {
						lat = append(lat, time.Since(start))
					}
					f.Started(d.Node, tk.ID, now)
					if len(ring) == window {
						old := ring[k%window]
						f.Finished(old.node, old.id, now)
						ring[k%window] = flight{d.Node, tk.ID}
					} else {
						ring = append(ring, flight{d.Node, tk.ID})
					}
				}
				b.StopTimer()
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				if len(lat) > 0 {
					b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
				}
			})
		}
	}
}
