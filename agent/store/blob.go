package store

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Values at least the profile's ValueThreshold long — large task events and
// checkpoints — are not handed to Badger: Badger would put them in its value
// log, whose garbage collection writes a live-looking value back at its own,
// old version, below the tombstone that deleted it; once compaction drops
// the tombstone the deleted value is back (Badger v4.9.6, value.go rewrite).
// Such a value is a blob file in <store>/blobs instead, and Badger holds a
// small reference to it in the LSM tree, where a deletion stays deleted.
//
// Crash order: a blob is written, fsynced, renamed into place and the
// directory fsynced before the transaction referring to it commits; a
// blob is removed only after the transaction that dropped its reference
// is durable. So a cut leaves at worst a blob nothing refers to, and
// collectOrphans removes those at every Open, before any write.

const blobDir = "blobs"

// refFormat marks a value that is a reference to a blob; every other
// value's format byte is 1.
const refFormat = 0x42

const maxBlobLen = MaxCheckpointLen + MaxPayloadLen + 4096

type blobs struct {
	dir       string
	threshold int // values this long or longer become blobs
}

// spill writes value as the blob name, synced, and returns the reference
// to store in its place. The caller syncs the directory (syncDir) before
// committing.
func (b blobs) spill(name string, value []byte) ([]byte, error) { return b.write(name, value, true) }

// write is spill; without sync the caller makes the blob durable (a
// migration syncs the whole new store once, before it is used).
func (b blobs) write(name string, value []byte, sync bool) ([]byte, error) {
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob directory: %w", err)
	}
	p := filepath.Join(b.dir, name)
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", name, err)
	}
	_, err = f.Write(value)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("blob %s: %w", name, err)
	}
	return encodeRef(blobRef{Name: name, Len: uint32(len(value)), Sum: crc32.Checksum(value, castagnoli)}), nil
}

func (b blobs) sync() error {
	if err := syncDir(b.dir); err != nil {
		return fmt.Errorf("blob directory: %w", err)
	}
	return nil
}

// isRef reports whether a stored value is a blob reference.
func isRef(v []byte) bool { return len(v) > 0 && v[0] == refFormat }

// blobRef is what Badger holds for a blob: its name, length and CRC-32C.
type blobRef struct {
	Name string
	Len  uint32
	Sum  uint32
}

func encodeRef(r blobRef) []byte {
	e := newEncoder(refFormat, len(r.Name)+16)
	e.str(r.Name)
	e.u32(r.Len)
	e.u32(r.Sum)
	return e.finish()
}

// decodeRef decodes a reference, checking the name's form and the length's
// bound.
func decodeRef(v []byte) (blobRef, error) {
	d := newDecoder("blob reference", v, refFormat)
	r := blobRef{Name: d.str(64)}
	r.Len, r.Sum = d.u32(), d.u32()
	if err := d.done(); err != nil {
		return blobRef{}, err
	}
	if !validBlobName(r.Name) || r.Len > maxBlobLen {
		return blobRef{}, fmt.Errorf("%w: blob reference %q of %d bytes", errCorruptValue, r.Name, r.Len)
	}
	return r, nil
}

// resolve returns the value a stored value stands for: itself, or the
// blob it refers to. A missing, short or altered blob is errCorruptValue.
func (b blobs) resolve(v []byte) ([]byte, error) {
	if !isRef(v) {
		return v, nil
	}
	r, err := decodeRef(v)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(b.dir, r.Name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: blob %s is missing", errCorruptValue, r.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", r.Name, err)
	}
	if len(data) != int(r.Len) || crc32.Checksum(data, castagnoli) != r.Sum {
		return nil, fmt.Errorf("%w: blob %s: %d bytes or checksum differ from its reference", errCorruptValue, r.Name, len(data))
	}
	return data, nil
}

// remove deletes blobs whose references are durably gone; a failure
// leaves an orphan the next Open collects.
func (b blobs) remove(names []string) {
	for _, n := range names {
		_ = os.Remove(filepath.Join(b.dir, n))
	}
}

// collectOrphans removes every file in the blob directory that keep does
// not name: blobs of commits a cut stopped, blobs whose removal a cut
// stopped, and unfinished .tmp files. It returns how many it removed.
func (b blobs) collectOrphans(keep map[string]bool) (int, error) {
	entries, err := os.ReadDir(b.dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("blob directory: %w", err)
	}
	var n int
	for _, e := range entries {
		if keep[e.Name()] {
			continue
		}
		if err := os.Remove(filepath.Join(b.dir, e.Name())); err != nil {
			return n, fmt.Errorf("blob directory: %w", err)
		}
		n++
	}
	if n > 0 {
		return n, b.sync()
	}
	return 0, nil
}

// blobName names the blob of a key's value written with seq: outbox
// records by their seq, checkpoints by the seq of the journal write that
// made them. Seqs are not reused once committed, so a name is never
// reused for a live blob.
func blobName(key []byte, seq uint64) string {
	kind := "o"
	if strings.HasPrefix(string(key), string(prefixCheckpoint)) {
		kind = "c"
	}
	return fmt.Sprintf("%s%016x", kind, seq)
}

func validBlobName(s string) bool {
	if len(s) != 17 || (s[0] != 'o' && s[0] != 'c') {
		return false
	}
	for _, c := range s[1:] {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// oldBlob returns the blob key's current value refers to, if any.
func (s *Store) oldBlob(txn *badger.Txn, key []byte) (string, error) {
	if !blobKey(key) {
		return "", nil
	}
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("agent store: %w", err)
	}
	if item.ValueSize() > maxRefLen {
		return "", nil // a value stored whole, not a reference
	}
	var name string
	err = item.Value(func(v []byte) error {
		if isRef(v) {
			r, _ := decodeRef(v) // a damaged reference names nothing to remove
			name = r.Name
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("agent store: %w", err)
	}
	return name, nil
}

// blobKey says whether key's value may be a blob: outbox records and
// checkpoints, the values that can be large.
func blobKey(key []byte) bool {
	return bytes.HasPrefix(key, prefixOutbox) || bytes.HasPrefix(key, prefixCheckpoint)
}

// maxRefLen bounds an encoded reference: format, name, two u32s, CRC.
const maxRefLen = 1 + 1 + 64 + 4 + 4 + 4

// syncDir makes dir's entries (creations, renames, removals) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
