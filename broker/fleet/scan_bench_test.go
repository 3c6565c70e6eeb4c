package fleet

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkIngestDuringScans is the scheduler's per-report cost at 10k
// nodes while whole-fleet work runs beside it on other goroutines at ten
// times the scheduler's own pace: Sweep + Summary + Table every 10 ms, a Get
// of every node (what the task engine's sync did each second) every
// 100 ms. It reports the mean and, from each report's own time, the p99 and
// the worst: with one fleet mutex a report waits for a whole scan; with
// shards, for a shard's share of one at most.
func BenchmarkIngestDuringScans(b *testing.B) {
	f, _ := newFleet()
	const nodes = 10000
	ids := make([]string, nodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("pi-%05d", i)
		f.HandleStatus(birth(ids[i], "i", 1), false)
		f.HandleMetrics(metrics(ids[i], "i", 2, 10))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, scan := range []struct {
		every time.Duration
		run   func()
	}{
		{10 * time.Millisecond, func() { f.Sweep(); f.Summary(); f.Table() }},
		{100 * time.Millisecond, func() {
			for _, id := range ids {
				f.Get(id)
			}
		}},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(scan.every)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					scan.run()
				}
			}
		}()
	}
	seq := make([]uint64, nodes)
	for i := range seq {
		seq[i] = 2
	}
	lat := make([]time.Duration, 0, 1<<20)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		n := i % nodes
		seq[n]++
		m := metrics(ids[n], "i", seq[n], 10)
		t0 := time.Now()
		f.HandleMetrics(m)
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
		i++
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
}
