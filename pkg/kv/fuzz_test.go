package kv

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// FuzzScanLog: the preflight's reader of Badger's log files never panics,
// never reads past the file, and finds only entries whose checksum holds.
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
	})
}
