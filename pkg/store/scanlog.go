package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
)

// Badger's log files (memtable WALs, *.mem, and value logs, *.vlog) start
// with a 20-byte header (data key id, IV) followed by entries:
//
//	meta byte | user meta byte | uvarint key len | uvarint value len |
//	uvarint expires | key | value | CRC-32C (big endian) of all before
//
// (badger value.go safeRead.Entry, structs.go header.)
const (
	logHeaderSize = 20
	maxKeyLen     = 1 << 16 // replay stops at a longer key (errTruncate)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// logScan is what replaying a log file would find.
type logScan struct {
	size    int64
	keyID   uint64
	entries int   // complete entries before the replay stops
	end     int64 // offset where the replay stops
	// absurd: the entry at end claims more bytes than the file holds.
	// Badger would allocate that much (up to 4 GiB: fatal in a 32-bit
	// process) before noticing the file is shorter.
	absurd bool
	// minVersion and maxVersion span the versions (commit timestamps) of
	// the complete entries.
	minVersion, maxVersion uint64
}

// scanLog reads path the way Badger's replay does (memtable.go
// logFile.iterate), with memory bounded by its own buffer instead of by
// what the damaged bytes claim.
func scanLog(path string) (logScan, error) {
	f, err := os.Open(path)
	if err != nil {
		return logScan{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return logScan{}, err
	}
	s := logScan{size: st.Size(), end: logHeaderSize}
	if s.size < logHeaderSize {
		s.end = s.size
		return s, nil
	}
	r := bufio.NewReaderSize(f, 32<<10)
	var head [logHeaderSize]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return s, err
	}
	s.keyID = binary.BigEndian.Uint64(head[:8])
	e := entryReader{crc: crc32.New(castagnoli)}
	for {
		n, ok, err := e.next(r, s.size-s.end)
		if err != nil {
			return s, err
		}
		if !ok {
			s.absurd = n < 0
			return s, nil
		}
		s.end += n
		if s.entries == 0 || e.version < s.minVersion {
			s.minVersion = e.version
		}
		s.maxVersion = max(s.maxVersion, e.version)
		s.entries++
	}
}

// entryReader reads log entries, reusing its buffers.
type entryReader struct {
	crc     hash.Hash32
	key     []byte
	version uint64 // of the last entry read
}

// next reads one entry of at most left bytes. It returns the entry's length
// and true, or false where the replay stops; a negative length with false
// means the entry claims more than left.
func (e *entryReader) next(r *bufio.Reader, left int64) (int64, bool, error) {
	crc := e.crc
	crc.Reset()
	hr := &hashingReader{r: r, h: crc}
	var meta [2]byte
	if _, err := io.ReadFull(hr, meta[:]); err != nil {
		return 0, false, eofIsEnd(err)
	}
	klen, err := binary.ReadUvarint(hr)
	if err != nil {
		return 0, false, eofIsEnd(err)
	}
	vlen, err := binary.ReadUvarint(hr)
	if err != nil {
		return 0, false, eofIsEnd(err)
	}
	if _, err := binary.ReadUvarint(hr); err != nil { // expires at
		return 0, false, eofIsEnd(err)
	}
	k, v := uint32(klen), uint32(vlen) // Badger keeps 32 bits of each
	if k > maxKeyLen {
		return 0, false, nil
	}
	body := int64(k + v) // Badger adds them in 32 bits, too
	hlen := hr.n
	if hlen+body+crc32.Size > left {
		return -1, false, nil
	}
	if cap(e.key) < int(k) {
		e.key = make([]byte, k)
	}
	e.key = e.key[:k]
	if _, err := io.ReadFull(r, e.key); err != nil {
		return 0, false, eofIsEnd(err)
	}
	crc.Write(e.key)
	if _, err := io.CopyN(crc, r, int64(v)); err != nil {
		return 0, false, eofIsEnd(err)
	}
	var sum [crc32.Size]byte
	if _, err := io.ReadFull(r, sum[:]); err != nil {
		return 0, false, eofIsEnd(err)
	}
	if binary.BigEndian.Uint32(sum[:]) != crc.Sum32() || k == 0 {
		return 0, false, nil // a torn or zeroed entry: the replay ends here
	}
	e.version = 0
	if k >= 8 { // keys end in math.MaxUint64 - version (y.KeyWithTs)
		e.version = math.MaxUint64 - binary.BigEndian.Uint64(e.key[k-8:])
	}
	return hlen + body + crc32.Size, true, nil
}

func eofIsEnd(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

// hashingReader hashes and counts the header bytes it reads.
type hashingReader struct {
	r   *bufio.Reader
	h   hash.Hash32
	n   int64
	one [1]byte
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

func (h *hashingReader) ReadByte() (byte, error) {
	b, err := h.r.ReadByte()
	if err == nil {
		h.one[0] = b
		h.h.Write(h.one[:])
		h.n++
	}
	return b, err
}
