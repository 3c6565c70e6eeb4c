// Package blobload is the stream of blobs the power-cut task workload
// fetches while its task runs (agent/runner's TestPowerLossTaskWorkload),
// shared with the harness (scripts/powerloss), which checks the blob the
// guest says it holds for each number against the one made here.
package blobload

import (
	"encoding/binary"
	"math/rand/v2"
)

// Base is the size of blob 0; blob k is Base + (k mod 8) × 128 KiB, so
// the stream has several sizes and a partial file's length says little
// about which blob it is.
const Base = 3 << 20

// Size is blob k's size.
func Size(k uint64) int64 { return Base + int64(k%8)*128<<10 }

// Content is blob k: its number in the first 8 bytes (big-endian), then
// bytes of a ChaCha8 stream seeded by k.
func Content(k uint64) []byte {
	b := make([]byte, Size(k))
	binary.BigEndian.PutUint64(b, k)
	var seed [32]byte
	binary.BigEndian.PutUint64(seed[:], k)
	copy(seed[8:], "tether power-cut blob stream")
	_, _ = rand.NewChaCha8(seed).Read(b[8:])
	return b
}

// Number reads k back from the first bytes of blob k; ok is false when
// there are fewer than 8.
func Number(head []byte) (k uint64, ok bool) {
	if len(head) < 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(head), true
}
