// Package blob is Tether's task data: content-addressed blobs, the store
// that keeps them in a directory (on an agent, in its data dir; at the
// scheduler, in its state dir), and the messages and endpoints that move
// them over MQTT, chunk by chunk, resumable and verified at the
// destination. docs/tasks.md ("Task data") is its contract.
package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxSize bounds one blob: 4 GiB keeps every offset and size exact in a
// JSON number and a file on a 32-bit board's filesystem (ext4, FAT32 -1).
const MaxSize = 4<<30 - 1

// ID names a blob by its content: the SHA-256 of its bytes and their
// number. Two blobs with the same ID are the same bytes, so a blob is
// fetched once wherever it is needed, and a receiver verifies what it got.
type ID struct {
	Sum  [sha256.Size]byte
	Size int64
}

// prefix starts the text form of an ID.
const prefix = "sha256:"

// String is the text form: sha256:<64 lower-case hex digits>:<size>.
func (id ID) String() string {
	return prefix + hex.EncodeToString(id.Sum[:]) + ":" + strconv.FormatInt(id.Size, 10)
}

// Hex is the digest alone, lower-case hex: the blob's file name.
func (id ID) Hex() string { return hex.EncodeToString(id.Sum[:]) }

// IsZero reports whether id is the zero ID (no blob).
func (id ID) IsZero() bool { return id == ID{} }

// Validate checks the size range.
func (id ID) Validate() error {
	if id.Size < 0 || id.Size > MaxSize {
		return fmt.Errorf("blob size %d is outside 0 to %d bytes", id.Size, int64(MaxSize))
	}
	return nil
}

// Of returns the ID of b.
func Of(b []byte) ID { return ID{Sum: sha256.Sum256(b), Size: int64(len(b))} }

// ErrBadID is wrapped by every ParseID failure.
var ErrBadID = errors.New("bad blob id")

// ParseID parses the text form written by String. Hex must be lower case,
// so an ID has exactly one text form and can key maps and file names.
func ParseID(s string) (ID, error) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return ID{}, fmt.Errorf("%w: %q does not start with %q", ErrBadID, clip(s), prefix)
	}
	digest, size, ok := strings.Cut(rest, ":")
	if !ok || len(digest) != 2*sha256.Size {
		return ID{}, fmt.Errorf("%w: %q: want sha256:<64 hex digits>:<size>", ErrBadID, clip(s))
	}
	var id ID
	for i := 0; i < len(digest); i++ {
		if c := digest[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ID{}, fmt.Errorf("%w: %q: the digest is lower-case hex", ErrBadID, clip(s))
		}
	}
	if _, err := hex.Decode(id.Sum[:], []byte(digest)); err != nil {
		return ID{}, fmt.Errorf("%w: %q: %v", ErrBadID, clip(s), err)
	}
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil || size != strconv.FormatInt(n, 10) {
		return ID{}, fmt.Errorf("%w: %q: the size is a decimal number without sign or leading zeros", ErrBadID, clip(s))
	}
	id.Size = n
	if err := id.Validate(); err != nil {
		return ID{}, fmt.Errorf("%w: %v", ErrBadID, err)
	}
	return id, nil
}

// MarshalText implements encoding.TextMarshaler (JSON and YAML use it).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// clip bounds untrusted text quoted in an error.
func clip(s string) string {
	const n = 100
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
