package kv

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
	// absurd: the entry at end claims more bytes than the file holds
	// (Badger would allocate that much, up to 4 GiB: fatal in a 32-bit
	// process, before noticing the file is shorter), or has a length
	// Badger cannot even decode (its replay fails: the store would not
	// open).
	absurd bool
	// minVersion and maxVersion span the versions (commit timestamps) of
	// the complete entries.
	minVersion, maxVersion uint64
	// laterCommits counts the distinct versions (commits) of intact entries
	// after end (up to 3): see entriesAfter.
	laterCommits int
	// cut: the replay stops before the end of the file and the file's last
	// byte is not zero. A WAL is preallocated (zeros after the entries)
	// and Badger only ever truncates one where its replay ends: one cut
	// inside an entry was cut by something else.
	cut bool
	// recorded: not read this time; an earlier preflight read the file,
	// unchanged since (verified.go). Only entries and size are known.
	recorded bool
}

// scanLog reads path the way Badger's replay does (memtable.go
// logFile.iterate), with memory bounded by its own buffer instead of by
// what the damaged bytes claim. With resync (WALs), it also looks for
// intact entries after the point where the replay stops.
func scanLog(path string, resync bool) (logScan, error) {
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
			if resync && s.end < s.size {
				var last [1]byte
				if _, err := f.ReadAt(last[:], s.size-1); err != nil {
					return s, err
				}
				s.cut = last[0] != 0
				s.laterCommits, err = entriesAfter(f, s.end, s.size)
			}
			return s, err
		}
		s.end += n
		if s.entries == 0 || e.version < s.minVersion {
			s.minVersion = e.version
		}
		s.maxVersion = max(s.maxVersion, e.version)
		s.entries++
	}
}

// entryReader reads log entries, reusing its buffers. The fields after crc
// describe the last entry read.
type entryReader struct {
	crc     hash.Hash32
	meta    [2]byte // meta, user meta
	expires uint64
	key     []byte
	version uint64
	// value holds the entry's value when keepValues is set; otherwise it
	// is only hashed, so memory stays bounded by the reader's buffer.
	keepValues bool
	value      []byte
}

// next reads one entry of at most left bytes. It returns the entry's length
// and true, or false where the replay stops; a negative length with false
// means the entry claims more than left.
func (e *entryReader) next(r *bufio.Reader, left int64) (int64, bool, error) {
	crc := e.crc
	crc.Reset()
	hr := &hashingReader{r: r, h: crc}
	if _, err := io.ReadFull(hr, e.meta[:]); err != nil {
		return 0, false, eofIsEnd(err)
	}
	var lens [3]uint64 // key, value, expires at
	for i := range lens {
		n, err := binary.ReadUvarint(hr)
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return 0, false, nil // the file ends: so does the replay
		case err != nil:
			// An overlong varint: Badger's replay returns an error and
			// the store would not open. Like an entry claiming more than
			// the file holds, it is where the log must end.
			return -1, false, nil
		}
		lens[i] = n
	}
	klen, vlen := lens[0], lens[1]
	e.expires = lens[2]
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
	var sink io.Writer = crc
	if e.keepValues {
		e.value = e.value[:0]
		sink = io.MultiWriter(crc, (*appender)(&e.value))
	}
	if _, err := io.CopyN(sink, r, int64(v)); err != nil {
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

// appender is an io.Writer appending to a slice.
type appender []byte

func (a *appender) Write(p []byte) (int, error) {
	*a = append(*a, p...)
	return len(p), nil
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

// maxResync bounds the bytes entriesAfter reads: a WAL is 2 × MemTableSize.
const maxResync = 64 << 20

// entriesAfter counts the distinct versions of intact transaction entries
// anywhere in the file after from, where the replay stopped: up to 3.
// After a power cut, only the write being made can be torn (each write is
// msynced before the next is copied in), so intact entries after the break
// belong to that one write (its pages reached the disk in any order); the
// entries of several transactions after it mean the break is damage in the
// middle of the log, and that Badger would drop committed data behind it. A candidate must look like an entry whose key ends in a plausible
// version before its checksum is computed, so random bytes cost a header
// parse each.
func entriesAfter(f *os.File, from, size int64) (int, error) {
	if size-from > maxResync {
		return 0, nil
	}
	rest := make([]byte, size-from)
	if _, err := f.ReadAt(rest, from); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	// A clean end is followed by zeros (preallocated, never written).
	last := len(rest) - 1
	for last >= 0 && rest[last] == 0 {
		last--
	}
	rest = rest[:last+1]
	versions := map[uint64]bool{}
	for off := 1; off < len(rest) && len(versions) < 3; off++ {
		if n, v, ok := entryAt(rest[off:]); ok {
			// Only transactions' entries: one write of value-log GC
			// rewrites values of many versions, outside transactions.
			if rest[off]&(bitTxn|bitFinTxn) != 0 {
				versions[v] = true
			}
			off += n - 1
		}
	}
	return len(versions), nil
}

// Entry meta bits (badger value.go).
const (
	bitTxn    = 1 << 6 // part of a transaction
	bitFinTxn = 1 << 7 // a transaction's end
)

// entryAt parses an intact entry at the start of b: its length and version.
func entryAt(b []byte) (int, uint64, bool) {
	if len(b) < 2+3+crc32.Size {
		return 0, 0, false
	}
	i := 2
	klen, n := binary.Uvarint(b[i:])
	if n <= 0 || klen < 9 || klen > maxKeyLen {
		return 0, 0, false
	}
	i += n
	vlen, n := binary.Uvarint(b[i:])
	if n <= 0 || vlen > uint64(len(b)) {
		return 0, 0, false
	}
	i += n
	if _, n = binary.Uvarint(b[i:]); n <= 0 {
		return 0, 0, false
	}
	i += n
	end := i + int(klen) + int(vlen)
	if end+crc32.Size > len(b) {
		return 0, 0, false
	}
	version := math.MaxUint64 - binary.BigEndian.Uint64(b[i+int(klen)-8:])
	if version == 0 || version > 1<<40 {
		return 0, 0, false
	}
	if crc32.Checksum(b[:end], castagnoli) != binary.BigEndian.Uint32(b[end:]) {
		return 0, 0, false
	}
	return end + crc32.Size, version, true
}
