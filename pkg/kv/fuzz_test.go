package kv

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tether-edge/tether/pkg/roundtrip"
)

// FuzzScanLog: the preflight's reader of Badger's log files never panics,
// never reads past the file, and finds only entries whose checksum holds;
// the entries it accepts, written back in Badger's format, read as the
// same entries, all of them, with the same versions.
func FuzzScanLog(f *testing.F) {
	entry := func(key, val []byte) []byte {
		b := []byte{0, 0}
		b = binary.AppendUvarint(b, uint64(len(key)))
		b = binary.AppendUvarint(b, uint64(len(val)))
		b = binary.AppendUvarint(b, 0)
		b = append(append(b, key...), val...)
		return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	}
	head := make([]byte, logHeaderSize)
	good := append(append(append([]byte{}, head...), entry([]byte("key-00000001"), []byte("value"))...),
		entry([]byte("key-00000002"), nil)...)
	f.Add(good)
	f.Add(append(append([]byte{}, good...), 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0x07, 0))
	f.Add(head[:7])
	want := logFile{Head: [logHeaderSize]byte{7: 1}, Entries: []replayed{
		{Meta: [2]byte{bitTxn, 3}, Expires: 1 << 40, Key: []byte("key-00000003"), Val: []byte("v")},
		{Meta: [2]byte{bitFinTxn}, Key: []byte("!badger!txn-00000003"), Val: []byte{}}}}
	txn, _ := writeEntries(want)
	if got, err := readEntries(txn); err != nil || !reflect.DeepEqual(got, want) {
		f.Fatalf("entries written read back as %+v, %v; want %+v", got, err, want)
	}
	f.Add(txn)
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "000001.mem")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := scanLog(path, true)
		if err != nil {
			t.Fatal(err)
		}
		if s.size != int64(len(b)) || s.end > s.size || s.end < min(logHeaderSize, s.size) {
			t.Fatalf("scan of %d bytes: %+v", len(b), s)
		}
		if s.entries > 0 && s.minVersion > s.maxVersion {
			t.Fatalf("versions %d > %d", s.minVersion, s.maxVersion)
		}
		if len(b) < logHeaderSize {
			return
		}
		accepted, err := readEntries(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(accepted.Entries) != s.entries {
			t.Fatalf("read %d entries, the scan %d", len(accepted.Entries), s.entries)
		}
		roundtrip.Check(t, accepted, writeEntries, readEntries)
		again := filepath.Join(t.TempDir(), "000002.mem")
		w, _ := writeEntries(accepted)
		if err := os.WriteFile(again, w, 0o600); err != nil {
			t.Fatal(err)
		}
		// Each length written back is as short as it can be, so no longer
		// than read; the same length overall means every one was, and then
		// the bytes are those read.
		if int64(len(w)) > s.end || (int64(len(w)) == s.end && !bytes.Equal(w, b[:s.end])) {
			t.Fatalf("written back as %d bytes %x, read from %d bytes %x", len(w), w, s.end, b[:s.end])
		}
		s2, err := scanLog(again, true)
		if err != nil {
			t.Fatal(err)
		}
		if s2.entries != s.entries || s2.end != int64(len(w)) || s2.minVersion != s.minVersion ||
			s2.maxVersion != s.maxVersion || s2.keyID != s.keyID || s2.absurd || s2.cut {
			t.Fatalf("written back: %+v, first read: %+v", s2, s)
		}
	})
}

// replayed is one entry of a log file as the replay reads it.
type replayed struct {
	Meta     [2]byte
	Expires  uint64
	Key, Val []byte
}

// logFile is a log file's header and the entries its replay reads.
type logFile struct {
	Head    [logHeaderSize]byte
	Entries []replayed
}

// readEntries reads b's header and the entries a replay finds, with
// scanLog's entry reader.
func readEntries(b []byte) (logFile, error) {
	var lf logFile
	if len(b) < logHeaderSize {
		return lf, fmt.Errorf("%d bytes: no header", len(b))
	}
	copy(lf.Head[:], b)
	r := bufio.NewReader(bytes.NewReader(b[logHeaderSize:]))
	e := entryReader{crc: crc32.New(castagnoli), keepValues: true}
	for left := int64(len(b) - logHeaderSize); ; {
		n, ok, err := e.next(r, left)
		if err != nil || !ok {
			return lf, err
		}
		left -= n
		lf.Entries = append(lf.Entries, replayed{Meta: e.meta, Expires: e.expires,
			Key: bytes.Clone(e.key), Val: bytes.Clone(e.value)})
	}
}

// writeEntries writes lf in Badger's format (value.go encodeEntry).
func writeEntries(lf logFile) ([]byte, error) {
	b := append([]byte{}, lf.Head[:]...)
	for _, e := range lf.Entries {
		start := len(b)
		b = append(b, e.Meta[:]...)
		b = binary.AppendUvarint(b, uint64(len(e.Key)))
		b = binary.AppendUvarint(b, uint64(len(e.Val)))
		b = binary.AppendUvarint(b, e.Expires)
		b = append(append(b, e.Key...), e.Val...)
		b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
	}
	return b, nil
}
