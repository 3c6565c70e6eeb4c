package kv

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkDeviceFootprint opens a store with the device profile, writes
// b.N records of 300 bytes (100 per transaction, as a group commit would)
// and reports the Go heap and the resident set with the store open: the
// numbers behind the memory budget in profile.go and docs/durability.md.
// Run it alone (-run '^$' -bench DeviceFootprint -benchtime 20000x): other
// tests' garbage would count.
//
//	heap-MiB       HeapInuse after a GC, right after the writes
//	heap-peak-MiB  the highest HeapInuse seen while writing (sampled, garbage included)
//	anon-MiB       RssAnon: the process's own memory (base-anon-MiB before Open)
//	file-MiB       RssFile: mapped file pages, the page cache's (base-file-MiB before Open)
//	idle-*         the same after 10 s without writes (b.N ≥ 10000): Badger
//	               pools table builders' buffers and frees one per idle 2 s;
//	               idle-anon-released-MiB after debug.FreeOSMemory
func BenchmarkDeviceFootprint(b *testing.B) {
	p := Device()
	dir := filepath.Join(b.TempDir(), "db")
	runtime.GC()
	baseAnon, baseFile := rssSplit()
	db, _, err := Open(dir, p, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 300)
	var peak uint64
	var ms runtime.MemStats
	b.ResetTimer()
	for i := 0; i < b.N; {
		txn := db.NewTransaction(true)
		for j := 0; j < 100 && i < b.N; j, i = j+1, i+1 {
			copy(val, value(i, 300))
			if err := txn.Set(key(i), val); err != nil {
				b.Fatal(err)
			}
		}
		if err := txn.Commit(); err != nil {
			b.Fatal(err)
		}
		db.Wrote()
		if i%2000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	b.StopTimer()
	heap, _ := footprint()
	if path := os.Getenv("TETHER_HEAP_PROFILE"); path != "" {
		writeHeapProfile(b, path)
	}
	anon, file := rssSplit()
	b.ReportMetric(mib(heap), "heap-MiB")
	b.ReportMetric(mib(max(peak, heap)), "heap-peak-MiB")
	b.ReportMetric(mib(anon), "anon-MiB")
	b.ReportMetric(mib(file), "file-MiB")
	b.ReportMetric(mib(baseAnon), "base-anon-MiB")
	b.ReportMetric(mib(baseFile), "base-file-MiB")
	if b.N >= 10000 {
		time.Sleep(10 * time.Second) // kept: the process's memory is measured after it settles
		heap, _ = footprint()
		anon, file = rssSplit()
		b.ReportMetric(mib(heap), "idle-heap-MiB")
		b.ReportMetric(mib(anon), "idle-anon-MiB")
		b.ReportMetric(mib(file), "idle-file-MiB")
		// What the Go runtime keeps of freed heap is its business
		// (GOGC, GOMEMLIMIT, the scavenger): returned, the floor shows.
		debug.FreeOSMemory()
		anon, _ = rssSplit()
		b.ReportMetric(mib(anon), "idle-anon-released-MiB")
	}
}

// rssSplit reads RssAnon and RssFile (+RssShmem) from /proc/self/status.
func rssSplit() (anon, file uint64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	field := func(line, name string) (uint64, bool) {
		rest, ok := strings.CutPrefix(line, name+":")
		if !ok {
			return 0, false
		}
		kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		return kb << 10, true
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := field(line, "RssAnon"); ok {
			anon = v
		}
		if v, ok := field(line, "RssFile"); ok {
			file += v
		}
		if v, ok := field(line, "RssShmem"); ok {
			file += v
		}
	}
	return anon, file
}

func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}
