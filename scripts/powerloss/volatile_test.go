package powerloss

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func newTestDisk(t *testing.T, blocks int) (*volatileDisk, string) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(name, make([]byte, blocks*blockSize), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := openVolatileDisk(name)
	if err != nil {
		t.Fatal(err)
	}
	return d, name
}

func fill(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func TestVolatileDiskReadsItsCache(t *testing.T) {
	d, name := newTestDisk(t, 4)
	// A write across a block boundary, unaligned.
	if err := d.WriteAt(fill('a', 100), blockSize-50, false); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 200)
	if err := d.ReadAt(got, blockSize-100); err != nil {
		t.Fatal(err)
	}
	want := append(append(fill(0, 50), fill('a', 100)...), fill(0, 50)...)
	if !bytes.Equal(got, want) {
		t.Errorf("read back %q", got)
	}
	if img, _ := os.ReadFile(name); bytes.Count(img, []byte{'a'}) != 0 {
		t.Error("an unflushed write reached the image")
	}
	if err := d.WriteAt(fill('f', 10), 3*blockSize, true); err != nil { // FUA
		t.Fatal(err)
	}
	if img, _ := os.ReadFile(name); bytes.Count(img, []byte{'f'}) != 10 || len(d.pending) != 2 {
		t.Errorf("a FUA write did not reach the image, or left the cache: %d pending", len(d.pending))
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if img, _ := os.ReadFile(name); bytes.Count(img, []byte{'a'}) != 100 || len(d.pending) != 0 {
		t.Error("a flush did not write the cache")
	}
	if err := d.WriteAt(fill('x', 1), 4*blockSize, false); err == nil {
		t.Error("a write past the end was accepted")
	}
}

// TestVolatileDiskPowerCut: the cut keeps some unflushed blocks and loses
// others, the same ones for the same seed.
func TestVolatileDiskPowerCut(t *testing.T) {
	const n = 64
	var images [2][]byte
	for run := range images {
		d, name := newTestDisk(t, n)
		for i := range n {
			d.WriteAt(fill(byte('A'+i%26), blockSize), int64(i)*blockSize, false)
		}
		kept, lost, err := d.PowerCut(rand.New(rand.NewPCG(7, 0)))
		if err != nil {
			t.Fatal(err)
		}
		if kept+lost != n || kept == 0 || lost == 0 {
			t.Fatalf("kept %d, lost %d of %d", kept, lost, n)
		}
		images[run], _ = os.ReadFile(name)
		if zero := bytes.Count(images[run], []byte{0}); zero != lost*blockSize {
			t.Errorf("%d zero bytes on the image, want %d lost blocks", zero, lost)
		}
	}
	if !bytes.Equal(images[0], images[1]) {
		t.Error("the same seed kept different blocks")
	}
}
