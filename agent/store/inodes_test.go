package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tether-edge/tether/pkg/testenv"
)

// takeInodes creates empty files in dir until the filesystem has at most
// left inodes free, and returns how many it made.
func takeInodes(t *testing.T, dir string, left int64) int {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		free, ok := freeInodes(dir)
		if !ok {
			t.Fatal("the filesystem does not count inodes")
		}
		if free <= left {
			return n
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%06d", n)))
		if err != nil {
			t.Fatalf("taking inodes: %v", err)
		}
		f.Close()
		n++
	}
}

// A filesystem with blocks to spare and no inodes left refuses a new file
// as a full one does, so the store counts free inodes as room (16 KiB
// each, a blob at the value threshold): with few left, metrics are shed
// and task events kept; with fewer, every write is refused; with inodes
// back, the store takes writes again by itself.
func TestInodesRunningOutCountAsAFullDisk(t *testing.T) {
	mnt := testenv.MountTmpfsWith(t, "size=64m,nr_inodes=2000")
	const reserve = 2 << 20 // below 128 inodes: low; below 32: full
	h, _ := runOnSmallDisk(t, filepath.Join(mnt, "store"), reserve)
	metrics := func() error {
		_, err := h.s.Append(context.Background(), KindMetrics, sized("m", 900))
		return err
	}
	journal := func() error {
		st, _, _ := h.s.TaskState("job")
		_, err := h.s.Journal(context.Background(), "job",
			Transition{Attempt: 1, From: st.State, To: "step", At: time.Now()}, nil, payload("e"))
		return err
	}
	if err := metrics(); err != nil {
		t.Fatalf("metrics with inodes free: %v", err)
	}
	if h.s.DiskFull() {
		t.Fatal("disk full with most inodes free")
	}

	fillers := filepath.Join(mnt, "fillers")
	takeInodes(t, fillers, 100)
	if err := metrics(); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("metrics with 100 inodes left and %d MiB of blocks: %v, want ErrDiskFull", blocksFree(t, mnt)>>20, err)
	}
	if err := journal(); err != nil {
		t.Fatalf("a task event with 100 inodes left: %v", err)
	}
	takeInodes(t, fillers, 20)
	if err := journal(); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("a task event with 20 inodes left: %v, want ErrDiskFull", err)
	}

	if err := os.RemoveAll(fillers); err != nil {
		t.Fatal(err)
	}
	if !testenv.Within(15*time.Second, func() bool { return !h.s.DiskFull() }) {
		in, _ := freeInodes(mnt)
		t.Fatalf("still disk full 15 s after the inodes were freed (room %d; %d inodes free)", h.s.FreeBytes(), in)
	}
	if err := metrics(); err != nil {
		t.Fatalf("metrics after the inodes came back: %v", err)
	}
}

// blocksFree is what statfs says of dir's free blocks, in bytes.
func blocksFree(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
