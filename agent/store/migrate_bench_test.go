package store

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/testenv"
)

// BenchmarkMigrate measures the Open that migrates a store written before
// blobs holding about 50 MB of large values in Badger's value log: 2,000
// task events of 20 KiB and 100 checkpoints of 100 KiB, with 500 more
// large records acknowledged (value-log garbage). Each iteration opens a
// fresh copy of the store (copied with the timer stopped).
//
//	MB/s             live large values moved, per second of the Open
//	peak-heap-MiB    the Go heap's peak during the Open (sampled every
//	                 5 ms, garbage included), above the heap before it
func BenchmarkMigrate(b *testing.B) {
	const (
		records    = 2000
		recordSize = 20 << 10
		tasks      = 100
		cpSize     = 100 << 10
	)
	tpl := filepath.Join(b.TempDir(), "template")
	o := Options{}
	legacy(&o)
	s, _, err := Open(tpl, o)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 16 { // group-committed
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < records+500; i += 16 {
				r, err := s.Append(ctx, KindTaskEvent, sized("tether/v1/n/tasks/x/status", recordSize))
				if err != nil {
					b.Error(err)
					return
				}
				if i >= records {
					_ = s.Ack(r.Seq)
				}
			}
			for i := w; i < tasks; i += 16 {
				task := fmt.Sprintf("task-%d", i)
				if _, err := s.Journal(ctx, task, Transition{Attempt: 1, To: "running", At: t0}, make([]byte, cpSize), payload("e")); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	live := float64(records*recordSize + tasks*cpSize)

	b.ReportAllocs()
	b.ResetTimer()
	var took time.Duration
	var peak uint64
	for i := range b.N {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), fmt.Sprintf("store-%d", i))
		if out, err := exec.Command("cp", "-a", tpl, dir).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v: %s", err, out)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		stop, sampled := make(chan struct{}), make(chan uint64)
		go func() {
			var max uint64
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > base && ms.HeapAlloc-base > max {
					max = ms.HeapAlloc - base
				}
				select {
				case <-stop:
					sampled <- max
					return
				case <-t.C:
				}
			}
		}()
		b.StartTimer()
		start := time.Now()
		s, _, err := Open(dir, Options{Logger: testenv.Logger(b, slog.LevelInfo)}) // logs the migration
		took += time.Since(start)
		b.StopTimer()
		close(stop)
		peak = max(peak, <-sampled)
		if err != nil {
			b.Fatal(err)
		}
		if s.Info().ValueLogInUse || s.DB().ValueLogInUse() {
			b.Fatal("not migrated")
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(live/1e6/(took.Seconds()/float64(b.N)), "MB/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}
