package main

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"
)

// directLog is the -odirect mode: records written with O_DIRECT into a
// file zero-filled (and fsynced) once, one 4 KiB block per seq, and never
// flushed. O_DIRECT overwrites of written blocks change no metadata, so
// each record goes straight to the disk's write cache and nowhere else: it
// survives a cut unless the disk's cache loses it. Killing qemu with
// cache=none never does; the harness's volatile cache does.
type directLog struct {
	f    *os.File
	buf  []byte // blockSize bytes, aligned for O_DIRECT
	next uint64
}

const (
	dblock  = 4096
	dblocks = 8192 // 32 MiB: seqs 1..8192; then the workload only waits for the cut
)

func openDirect(dir string) (*directLog, error) {
	name := filepath.Join(dir, "dlog")
	if _, err := os.Stat(name); os.IsNotExist(err) {
		if err := writeFile(name+".tmp", make([]byte, dblock*dblocks), true); err != nil {
			return nil, err
		}
		if err := os.Rename(name+".tmp", name); err != nil {
			return nil, err
		}
		if err := syncDir(dir); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(name, os.O_RDWR|syscall.O_DIRECT, 0)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 2*dblock)
	off := int(dblock - uintptr(unsafe.Pointer(&raw[0]))%dblock)
	l := &directLog{f: f, buf: raw[off : off+dblock], next: 1}
	// The records run from block 0 until the first block that is not seq+1.
	for i := uint64(0); i < dblocks; i++ {
		if _, err := f.ReadAt(l.buf, int64(i*dblock)); err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		seq, ok := parseRec(l.buf[:recSize])
		if !ok || seq != i+1 {
			break
		}
		l.next = seq + 1
	}
	return l, nil
}

// full reports whether the log has no room for another record.
func (l *directLog) full() bool { return l.next > dblocks }

func (l *directLog) append(seq uint64) error {
	if seq != l.next || l.full() {
		return fmt.Errorf("direct log: seq %d, want %d of at most %d", seq, l.next, dblocks)
	}
	clear(l.buf)
	binary.LittleEndian.PutUint64(l.buf, seq)
	binary.LittleEndian.PutUint32(l.buf[8:], crc32.Checksum(l.buf[:8], castagnoli))
	copy(l.buf[12:], "TPL1")
	if _, err := l.f.WriteAt(l.buf, int64((seq-1)*dblock)); err != nil {
		return err
	}
	l.next++
	return nil
}
