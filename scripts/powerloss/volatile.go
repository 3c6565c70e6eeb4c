package powerloss

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
)

// volatileDisk is a disk image behind a volatile write cache, as on an SD
// card or eMMC: a write is only in the cache (memory) until a flush, or
// unless it is FUA; a power cut writes an arbitrary subset of the cached
// blocks, in no particular order, and loses the rest. Reads see the cache.
// Blocks are blockSize bytes; a partial write updates its block in the
// cache, so a cut keeps or loses whole blocks (no torn blocks).
type volatileDisk struct {
	f    *os.File
	size int64

	mu      sync.Mutex       // guards pending and the file's content
	pending map[int64][]byte // block index -> content not yet on the image
}

const blockSize = 4096

func openVolatileDisk(name string) (*volatileDisk, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Size()%blockSize != 0 {
		f.Close()
		return nil, fmt.Errorf("%s: size %d is not a multiple of %d", name, st.Size(), blockSize)
	}
	return &volatileDisk{f: f, size: st.Size(), pending: map[int64][]byte{}}, nil
}

// block returns the current content of block i (cache or image); the
// caller must not keep it past mu.
func (d *volatileDisk) block(i int64) ([]byte, error) {
	if b, ok := d.pending[i]; ok {
		return b, nil
	}
	b := make([]byte, blockSize)
	_, err := d.f.ReadAt(b, i*blockSize)
	return b, err
}

func (d *volatileDisk) check(off int64, n int) error {
	if off < 0 || n < 0 || off+int64(n) > d.size {
		return fmt.Errorf("access %d+%d outside a disk of %d bytes", off, n, d.size)
	}
	return nil
}

// ReadAt reads through the cache.
func (d *volatileDisk) ReadAt(p []byte, off int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(off, len(p)); err != nil {
		return err
	}
	for done := 0; done < len(p); {
		pos := off + int64(done)
		b, err := d.block(pos / blockSize)
		if err != nil {
			return err
		}
		done += copy(p[done:], b[pos%blockSize:])
	}
	return nil
}

// WriteAt writes into the cache; with fua the blocks go to the image at once.
func (d *volatileDisk) WriteAt(p []byte, off int64, fua bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(off, len(p)); err != nil {
		return err
	}
	for done := 0; done < len(p); {
		pos := off + int64(done)
		i := pos / blockSize
		cur, err := d.block(i)
		if err != nil {
			return err
		}
		b := make([]byte, blockSize)
		copy(b, cur)
		done += copy(b[pos%blockSize:], p[done:])
		if fua {
			if _, err := d.f.WriteAt(b, i*blockSize); err != nil {
				return err
			}
			delete(d.pending, i)
		} else {
			d.pending[i] = b
		}
	}
	return nil
}

// Flush writes the whole cache to the image. The image's host file is not
// fsynced: the host does not lose power, only the emulated device does.
func (d *volatileDisk) Flush() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, i := range d.sortedPending() {
		if _, err := d.f.WriteAt(d.pending[i], i*blockSize); err != nil {
			return err
		}
		delete(d.pending, i)
	}
	return nil
}

func (d *volatileDisk) sortedPending() []int64 {
	idx := make([]int64, 0, len(d.pending))
	for i := range d.pending {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	return idx
}

// PowerCut ends the disk's life: each cached block reaches the image with
// probability 1/2 (rng decides, so a seed replays the choice for the same
// cache), the rest is lost. It returns how many blocks were kept and lost,
// and closes the image.
func (d *volatileDisk) PowerCut(rng *rand.Rand) (kept, lost int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, i := range d.sortedPending() {
		if rng.IntN(2) == 0 {
			lost++
			continue
		}
		kept++
		if _, err := d.f.WriteAt(d.pending[i], i*blockSize); err != nil {
			return kept, lost, err
		}
	}
	d.pending = nil
	return kept, lost, d.f.Close()
}
