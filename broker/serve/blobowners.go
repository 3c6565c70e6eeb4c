package serve

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/protocol"
)

// ownerRecords keeps, for each operator's upload charged to its operator's
// share, a record of that operator: the file Dir/<hex>-<size> of the blob,
// holding the operator's peer name (operator/<user>). The task store names
// the nodes a blob came from but not the operator who uploaded it, so
// these records are what restores an operator's charges at a restart
// (restoreShares).
//
// A record is durable before the first byte of its blob is fetched, so
// the store holds no part of an operator's upload without one; it is
// removed when the charge is refunded (the store holds nothing of the
// blob). A record found without its blob at start is stale and removed.
//
// Dir is the subdirectory "owners" of the blob store's directory: the
// store itself keeps to its own subdirectories (blob.Options.Dir).
type ownerRecords struct{ dir string }

// ownerTmp prefixes a record being written; one left by a crash is
// removed at start.
const ownerTmp = ".tmp-"

// maxOwnerRecord bounds what is read of one record: a peer name is far
// shorter.
const maxOwnerRecord = 256

func openOwnerRecords(blobDir string) (*ownerRecords, error) {
	dir := filepath.Join(blobDir, "owners")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob owner records: %w", err)
	}
	return &ownerRecords{dir: dir}, nil
}

func (r *ownerRecords) name(id blob.ID) string {
	return id.Hex() + "-" + strconv.FormatInt(id.Size, 10)
}

// put records peer as id's owner, durably (written, synced, renamed into
// place, the directory synced).
func (r *ownerRecords) put(id blob.ID, peer string) error {
	name := r.name(id)
	tmp := filepath.Join(r.dir, ownerTmp+name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("blob owner record: %w", err)
	}
	_, err = f.WriteString(peer)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(r.dir, name))
	}
	if err == nil {
		err = syncDir(r.dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("blob owner record: %w", err)
	}
	return nil
}

// remove deletes id's record, if any. A record left by a failed removal
// is found stale at the next start, or charges its blob again if the
// store holds it then.
func (r *ownerRecords) remove(id blob.ID) error {
	if err := os.Remove(filepath.Join(r.dir, r.name(id))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("blob owner record: %w", err)
	}
	return nil
}

// load calls f with each record's blob and operator peer name. A record
// that is not one (a name that is no blob's, content that is no
// operator's peer name) is removed and counted in bad, with the first
// such error; a record that cannot be read is counted and left.
func (r *ownerRecords) load(f func(id blob.ID, peer string)) (bad int, first error) {
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		return 1, fmt.Errorf("blob owner records: %w", err)
	}
	fail := func(err error) {
		bad++
		if first == nil {
			first = err
		}
	}
	for _, e := range ents {
		p := filepath.Join(r.dir, e.Name())
		if strings.HasPrefix(e.Name(), ownerTmp) {
			_ = os.Remove(p) // a write a crash interrupted: its fetch had not started
			continue
		}
		id, peer, err := readOwner(p, e.Name())
		switch {
		case errors.Is(err, errBadOwner):
			fail(err)
			_ = os.Remove(p)
		case err != nil:
			fail(err)
		default:
			f(id, peer)
		}
	}
	return bad, first
}

// errBadOwner: a file of the records directory is no owner record.
var errBadOwner = errors.New("not a blob owner record")

func readOwner(path, name string) (blob.ID, string, error) {
	h, size, _ := strings.Cut(name, "-")
	id, err := blob.ParseID("sha256:" + h + ":" + size)
	if err != nil {
		return blob.ID{}, "", fmt.Errorf("%w: %s: %w", errBadOwner, name, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return blob.ID{}, "", fmt.Errorf("blob owner record %s: %w", name, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return blob.ID{}, "", fmt.Errorf("%w: %s is not a regular file", errBadOwner, name)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxOwnerRecord+1))
	if err != nil {
		return blob.ID{}, "", fmt.Errorf("blob owner record %s: %w", name, err)
	}
	if peer := string(b); len(b) <= maxOwnerRecord && operatorPeer(peer) {
		return id, peer, nil
	}
	return blob.ID{}, "", fmt.Errorf("%w: %s names no operator", errBadOwner, name)
}

// operatorPeer says peer is an operator's peer name (operator/<user>).
func operatorPeer(peer string) bool {
	user, ok := blob.OperatorOf(peer)
	return ok && protocol.ValidateID("operator", user) == nil
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}
