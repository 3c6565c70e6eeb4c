package kv

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/tether-edge/tether/pkg/testenv"
)

// Environment of TestDeviceWorkload when TestAddressSpace runs it under
// qemu-user.
const (
	envASLimit  = "TETHER_STORE_AS_LIMIT"       // bytes of address space to leave the process
	envDefaults = "TETHER_STORE_BADGER_DEFAULT" // use Badger's default value-log size: Open must fail
)

// TestDeviceWorkload opens a store with the device profile, writes 10,000
// records (300 bytes, committed 100 per transaction) and reads them back.
// TestAddressSpace runs it for armv7 and arm64 inside 2 GiB of address space.
func TestDeviceWorkload(t *testing.T) {
	if s := os.Getenv(envASLimit); s != "" {
		limit, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		free, err := limitAddressSpace(limit)
		if err != nil {
			t.Fatalf("limiting the address space: %v", err)
		}
		t.Logf("address space: %d MiB left free of a %d MiB limit", free>>20, limit>>20)
	}
	p := Device()
	dir := filepath.Join(t.TempDir(), "db")
	if os.Getenv(envDefaults) != "" {
		p.ValueLogFileSize = badger.DefaultOptions("").ValueLogFileSize
		_, rec, err := Open(dir, p, testenv.Logger(t, slog.LevelWarn))
		if err == nil || rec != nil || !strings.Contains(err.Error(), "cannot allocate memory") {
			t.Fatalf("Open with Badger's default value-log size = %v, %v; want it to fail for lack of address space", rec, err)
		}
		t.Logf("BADGER-DEFAULT-FAILS: %v", err)
		return
	}
	start := time.Now()
	db, rec, err := Open(dir, p, testenv.Logger(t, slog.LevelWarn))
	if err != nil || rec != nil {
		t.Fatalf("Open = %v, %v", rec, err)
	}
	const n, size = 10000, 300
	want := fill(t, db, 0, n, size, 100)
	wrote := time.Since(start)
	err = db.View(func(txn *badger.Txn) error {
		for i := range n {
			item, err := txn.Get(key(i))
			if err != nil {
				return err
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if !bytes.Equal(v, want[string(key(i))]) {
				return fmt.Errorf("key %d reads back wrong", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	verify(t, db.bdb, want)
	heap, rss := footprint()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, rec = mustOpen(t, dir, p)
	if rec != nil {
		t.Fatalf("reopen recovered: %+v", rec)
	}
	verify(t, db.bdb, want)
	t.Logf("WORKLOAD %s/%s: %d records written in %v, read back; heap %.1f MiB, RSS %.1f MiB, total %v",
		runtime.GOARCH, goarm(), n, wrote.Round(time.Millisecond), mib(heap), mib(rss),
		time.Since(start).Round(time.Millisecond))
}

func goarm() string {
	if runtime.GOARCH != "arm" {
		return "-"
	}
	return "v7"
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// footprint returns the Go heap in use after a GC and the resident set.
func footprint() (heap, rss uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, residentBytes()
}

// residentBytes reads VmRSS from /proc/self/status (0 where there is none).
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
