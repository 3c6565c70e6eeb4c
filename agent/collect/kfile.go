package collect

import (
	"errors"
	"io"
	"os"
	"slices"
)

// kfile is a sysfs file (a temperature, the throttling word) kept open
// between samples. A read at offset 0 makes the kernel regenerate the
// contents: sysfs calls the attribute's show() again
// (Documentation/filesystems/sysfs.rst). It saves an open and a close per
// read; gopsutil, which reads everything else, opens its files each time.
//
// The file must be replaced in place, never renamed over, for a kept-open
// handle to see new contents; the kernel never renames, and the fixture
// tests write in place.
type kfile struct {
	path string
	f    *os.File // nil until the first read, and after a failed one
}

// read returns the file's current contents, read into *buf (grown as
// needed). They are valid until *buf is used again.
func (k *kfile) read(buf *[]byte) ([]byte, error) {
	if k.f == nil {
		f, err := os.Open(k.path)
		if err != nil {
			return nil, err
		}
		k.f = f
	}
	b, err := preadAll(k.f, buf)
	if err != nil {
		// The device behind a sysfs file may have gone; open afresh next
		// time rather than keep reading a dead handle.
		k.close()
		return nil, err
	}
	return b, nil
}

func (k *kfile) close() {
	if k.f != nil {
		k.f.Close() // read-only: nothing to flush, the error says nothing
		k.f = nil
	}
}

// preadAll reads f from offset 0 to its end into *buf, growing it.
func preadAll(f *os.File, buf *[]byte) ([]byte, error) {
	b := (*buf)[:cap(*buf)]
	if len(b) == 0 {
		b = make([]byte, 4096)
	}
	n := 0
	for {
		m, err := f.ReadAt(b[n:], int64(n))
		n += m
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			*buf = b
			return nil, err
		}
		// ReadAt filled b: there may be more.
		b = slices.Grow(b[:n], len(b))[:2*len(b)]
	}
	*buf = b
	return b[:n], nil
}

// readSmall reads a file read once (a fact, an identity), without keeping it
// open. A missing file is not an error: it returns nil, nil.
func readSmall(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}
