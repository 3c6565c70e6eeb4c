package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAppend measures durable appends of 700-byte metrics records
// with the default 25 ms commit window: from 16 and 64 writers at once (a
// burst, group-committed) and from one (every Append waits for its own
// commit, one window after the last).
//
//	records/s   appends that returned, per second
//	commits/s   durable Badger commits per second (≤ 1/CommitInterval = 40)
//	fsyncs/s    2 × commits/s: each commit msyncs the value log, then the WAL
//	records/commit
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name    string
		writers int // goroutines per GOMAXPROCS
	}{
		{"burst-16", 8},
		{"burst-64", 32},
		{"serial", 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, _, err := Open(filepath.Join(b.TempDir(), "store"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			build := sized("tether/v1/r/nodes/n/metrics", 700)
			ctx := context.Background()
			commits0 := s.Commits()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			if bc.writers == 0 {
				for range b.N {
					if _, err := s.Append(ctx, KindMetrics, build); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.SetParallelism(bc.writers)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.Append(ctx, KindMetrics, build); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			elapsed := time.Since(start).Seconds()
			b.StopTimer()
			commits := float64(s.Commits() - commits0)
			b.ReportMetric(float64(b.N)/elapsed, "records/s")
			b.ReportMetric(commits/elapsed, "commits/s")
			b.ReportMetric(2*commits/elapsed, "fsyncs/s")
			b.ReportMetric(float64(b.N)/max(commits, 1), "records/commit")
		})
	}
}
