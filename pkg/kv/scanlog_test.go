package kv

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// logEntry encodes one WAL entry with a versioned key.
func logEntry(meta byte, key string, version uint64, val []byte) []byte {
	k := binary.BigEndian.AppendUint64([]byte(key), math.MaxUint64-version)
	b := []byte{meta, 0}
	b = binary.AppendUvarint(b, uint64(len(k)))
	b = binary.AppendUvarint(b, uint64(len(val)))
	b = binary.AppendUvarint(b, 0)
	b = append(append(b, k...), val...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// After the break, only transactions' entries count: a torn value-log GC
// write holds entries of many versions outside any transaction.
func TestEntriesAfterTheBreak(t *testing.T) {
	for _, tc := range []struct {
		name  string
		meta  byte
		want  int
		vers  []uint64
		tail0 bool // zeros after the entries, as in a preallocated WAL
	}{
		{"one torn transaction", bitTxn, 1, []uint64{9, 9, 9}, true},
		{"several transactions", bitTxn, 2, []uint64{9, 10}, true},
		{"a torn GC rewrite", 0, 0, []uint64{3, 5, 7}, true},
		{"cut short", bitTxn, 0, []uint64{9}, false}, // the cut entry is not intact
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, logHeaderSize)
			b = append(b, logEntry(bitTxn, "o/good", 8, []byte("v"))...)
			b = append(b, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0) // the break
			for _, v := range tc.vers {
				b = append(b, logEntry(tc.meta, "o/after", v, []byte("value"))...)
			}
			if tc.tail0 {
				b = append(b, make([]byte, 4096)...)
			} else {
				b = b[:len(b)-2] // inside the last entry
			}
			path := filepath.Join(t.TempDir(), "00001.mem")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := scanLog(path, true)
			if err != nil {
				t.Fatal(err)
			}
			if s.entries != 1 || s.laterCommits != tc.want || s.cut == tc.tail0 {
				t.Fatalf("scan = %+v; want 1 entry, %d later commits, cut %v", s, tc.want, !tc.tail0)
			}
		})
	}
}
