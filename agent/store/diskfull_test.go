package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/testenv"
)

// fillTo writes a file in dir until the filesystem has at most left bytes
// free (0: until it is full), and returns its path.
func fillTo(t *testing.T, dir string, left int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		free, err := freeBytes(dir)
		if err != nil {
			t.Fatal(err)
		}
		if free <= left {
			return path
		}
		n := min(int64(len(chunk)), free-left)
		if _, err := f.Write(chunk[:n]); err != nil {
			if left == 0 {
				return path // full
			}
			t.Fatalf("filling: %v", err)
		}
	}
}

// runOnSmallDisk opens a store in dir with reserve and a 20 ms disk poll
// and runs it; stopRun ends Run (once), and the store is closed when the
// test ends.
func runOnSmallDisk(t *testing.T, dir string, reserve int64) (h *harness, stopRun func()) {
	t.Helper()
	h = &harness{t: t, dir: dir, opts: testOptions(t)}
	h.opts.DiskReserve, h.opts.DiskPoll = reserve, 20*time.Millisecond
	h.open()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.s.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	stopRun = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(func() {
		stopRun()
		if err := h.s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h, stopRun
}

// A store on a small tmpfs that fills up: below the reserve metrics are
// refused and task events still stored; full, every write is refused; the
// process never dies of SIGBUS inside Badger (it would take the test with
// it); once space is freed the store takes every write again by itself,
// and every record it acknowledged is there after a reopen.
func TestDiskFullShedsMetricsKeepsEventsAndRecovers(t *testing.T) {
	mnt := testenv.MountTmpfs(t, "8m")
	const reserve = 2 << 20
	h, stopRun := runOnSmallDisk(t, filepath.Join(mnt, "store"), reserve)

	var stored []uint64 // every record the store acknowledged
	var events int
	appendMetrics := func() error {
		r, err := h.s.Append(context.Background(), KindMetrics, sized("m", 900))
		if err == nil {
			stored = append(stored, r.Seq)
		}
		return err
	}
	journal := func() error {
		events++
		st, _, _ := h.s.TaskState("job")
		r, err := h.s.Journal(context.Background(), "job",
			Transition{Attempt: 1, From: st.State, To: "step", At: time.Now()}, nil, payload("e"))
		if err == nil {
			stored = append(stored, r.Seq)
		}
		return err
	}
	for range 200 {
		if err := appendMetrics(); err != nil {
			t.Fatalf("metrics with space free: %v", err)
		}
	}
	if err := journal(); err != nil {
		t.Fatal(err)
	}
	if h.s.DiskFull() {
		t.Fatal("disk full with most of the tmpfs free")
	}

	// Below the reserve: metrics are shed, task events kept.
	filler := fillTo(t, mnt, reserve/2)
	if err := appendMetrics(); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("metrics below the reserve: %v, want ErrDiskFull", err)
	}
	if !h.s.DiskFull() {
		t.Fatal("DiskFull false below the reserve")
	}
	for range 5 {
		if err := journal(); err != nil {
			t.Fatalf("a task event below the reserve: %v", err)
		}
	}
	for _, seq := range stored[:100] { // deliveries go on: acks are committed
		if err := h.s.Ack(seq); err != nil {
			t.Fatal(err)
		}
	}
	acked := stored[:100]
	stored = stored[100:]

	// Full: every write is refused, and nothing crashes.
	f, err := os.OpenFile(filler, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	for range 20 {
		if err := appendMetrics(); !errors.Is(err, ErrDiskFull) {
			t.Fatalf("metrics on a full disk: %v", err)
		}
		if err := journal(); !errors.Is(err, ErrDiskFull) {
			t.Fatalf("a task event on a full disk: %v", err)
		}
		events-- // refused: not stored
	}
	looks := h.s.wakeups.Load()
	testenv.Eventually(t, 5*time.Second, "Run's housekeeping to look while full", func() bool { return h.s.wakeups.Load() >= looks+3 })

	// Space is back: writes are taken again without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if !testenv.Within(15*time.Second, func() bool { return !h.s.DiskFull() }) {
		t.Fatalf("still disk full 15 s after the space was freed (free %d)", h.s.FreeBytes())
	}
	for range 10 {
		if err := appendMetrics(); err != nil {
			t.Fatalf("metrics after space came back: %v", err)
		}
	}
	if err := journal(); err != nil {
		t.Fatal(err)
	}

	// Nothing the store acknowledged is lost.
	stopRun()
	h.reopen()
	got := map[uint64]bool{}
	for _, seq := range pendingSeqs(t, h.s) {
		got[seq] = true
	}
	for _, seq := range stored {
		if !got[seq] {
			t.Fatalf("record %d was acknowledged by the store and is gone after a reopen", seq)
		}
	}
	for _, seq := range acked {
		if got[seq] {
			t.Fatalf("record %d was acknowledged by the broker and is still pending", seq)
		}
	}
	hist, err := h.s.History("job")
	if err != nil || len(hist) != events {
		t.Fatalf("task history has %d transitions, %d were stored: %v", len(hist), events, err)
	}
}
