package kv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkOpenBySize measures Open on a closed store holding 10, 100 and
// 500 MB of values in the value log (64 KiB each, device profile: 4 MiB
// files), the cost that grows with a store's history:
//
//	full      the value-log record removed before each open: the
//	          preflight reads every value-log file, as it did before the
//	          record (verified.go)
//	recorded  the record kept: it reads the two newest files and those
//	          changed since it last read them
//
// warm opens find the files in the page cache; cold ones first drop them
// from it (POSIX_FADV_DONTNEED on every file of the store), as after a
// reboot. Setting TETHER_BENCH_OPEN_MB (a comma-separated list of sizes)
// replaces the sizes.
func BenchmarkOpenBySize(b *testing.B) {
	sizes := []int{10, 100, 500}
	if s := os.Getenv("TETHER_BENCH_OPEN_MB"); s != "" {
		sizes = sizes[:0]
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n <= 0 {
				b.Fatalf("TETHER_BENCH_OPEN_MB: %q", s)
			}
			sizes = append(sizes, n)
		}
	}
	for _, mb := range sizes {
		dir := filepath.Join(b.TempDir(), "db")
		p := Device()
		db, _, err := Open(dir, p, nil)
		if err != nil {
			b.Fatal(err)
		}
		const size, per = 64 << 10, 32
		n := mb * 1000 * 1000 / size
		fill(b, db, 0, n, size, per)
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		for _, cold := range []bool{false, true} {
			for _, full := range []bool{true, false} {
				name := fmt.Sprintf("%dMB/%s/%s", mb, map[bool]string{false: "warm", true: "cold"}[cold],
					map[bool]string{true: "full", false: "recorded"}[full])
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						b.StopTimer()
						if full {
							if err := os.Remove(filepath.Join(dir, verifiedName)); err != nil && !os.IsNotExist(err) {
								b.Fatal(err)
							}
						}
						if cold {
							dropCache(b, dir)
						}
						b.StartTimer()
						db, _, err := Open(dir, p, nil)
						if err != nil {
							b.Fatal(err)
						}
						b.StopTimer()
						if err := db.Close(); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
					b.ReportMetric(float64(len(files(b, dir, ".vlog"))), "vlog-files")
				})
			}
		}
	}
}

// dropCache asks the kernel to drop the page cache of every file in dir
// (they are synced: Badger closed the store).
func dropCache(b *testing.B, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		err = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		_ = f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
}
