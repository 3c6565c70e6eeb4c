package blob

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Options configure a Store. Zero fields take the defaults below.
type Options struct {
	// Dir holds the blobs (created if missing):
	//
	//	Dir/sha256/<hex>          complete blobs, verified before they got here
	//	Dir/partial/<hex>-<size>  transfers in progress, written in order
	//	Dir/tmp/                  Put's files being written; emptied by Open
	Dir string
	// Quota bounds the bytes the store holds: complete blobs plus the full
	// size of every partial one, reserved when its transfer starts, so a
	// transfer that starts can finish. Default 1 GiB; an agent on an SD
	// card sets what its card can spare (agent config blobs.quota).
	Quota int64
	// MaxBlob bounds one blob. Default and most: MaxSize.
	MaxBlob int64
	// SyncEvery is how many bytes a partial blob takes between fsyncs:
	// what a power cut can cost a transfer, which then resumes from the
	// length the file has. Default 1 MiB (8 chunks).
	SyncEvery int64
	Logger    *slog.Logger
}

const (
	DefaultQuota     = 1 << 30
	DefaultSyncEvery = 1 << 20
)

func (o *Options) ensureDefaults() {
	if o.Quota <= 0 {
		o.Quota = DefaultQuota
	}
	if o.MaxBlob <= 0 || o.MaxBlob > MaxSize {
		o.MaxBlob = MaxSize
	}
	if o.SyncEvery <= 0 {
		o.SyncEvery = DefaultSyncEvery
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

var (
	// ErrNotFound: the store holds no complete blob with that ID.
	ErrNotFound = errors.New("blob not found")
	// ErrQuota: storing the blob would exceed the store's quota.
	ErrQuota = errors.New("blob quota exceeded")
	// ErrTooLarge: the blob is larger than the store's MaxBlob.
	ErrTooLarge = errors.New("blob too large")
	// ErrCorrupt: the bytes received do not hash to the blob's ID; the
	// partial blob was deleted and the transfer starts again from zero.
	ErrCorrupt = errors.New("blob does not match its id")
)

// OffsetError is returned by Append for data that does not continue the
// partial blob: Have is where the next byte must start.
type OffsetError struct{ Got, Have int64 }

func (e *OffsetError) Error() string {
	return fmt.Sprintf("blob data at %d, but the partial blob has %d bytes", e.Got, e.Have)
}

// partial is a transfer in progress.
type partial struct {
	f        *os.File // nil until the first Append after Open
	n        int64    // bytes in the file
	unsynced int64    // bytes written since the last fsync
}

// Store keeps blobs as files in a directory. It is safe for concurrent use.
type Store struct {
	opts Options

	mu       sync.Mutex // guards everything below, and the files themselves
	used     int64      // sizes of complete blobs plus sizes of partial ones
	complete map[ID]struct{}
	partials map[ID]*partial
}

// Open opens or creates the store in opts.Dir, counting what it holds and
// deleting what an interrupted Put left.
func Open(opts Options) (*Store, error) {
	opts.ensureDefaults()
	if opts.Dir == "" {
		return nil, errors.New("blob store: no directory")
	}
	s := &Store{opts: opts, complete: map[ID]struct{}{}, partials: map[ID]*partial{}}
	for _, d := range []string{"sha256", "partial", "tmp"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("blob store: %w", err)
		}
	}
	tmp, err := os.ReadDir(filepath.Join(opts.Dir, "tmp"))
	if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	for _, e := range tmp {
		_ = os.Remove(filepath.Join(opts.Dir, "tmp", e.Name()))
	}
	if err := s.scan("sha256", func(name string, fi os.FileInfo) error {
		id, err := ParseID(prefix + name + ":" + strconv.FormatInt(fi.Size(), 10))
		if err != nil {
			return err
		}
		s.complete[id] = struct{}{}
		s.used += id.Size
		return nil
	}); err != nil {
		return nil, err
	}
	if err := s.scan("partial", func(name string, fi os.FileInfo) error {
		h, size, _ := strings.Cut(name, "-")
		id, err := ParseID(prefix + h + ":" + size)
		if err != nil {
			return err
		}
		if _, done := s.complete[id]; done || fi.Size() > id.Size {
			return errors.New("stale")
		}
		s.partials[id] = &partial{n: fi.Size()}
		s.used += id.Size
		return nil
	}); err != nil {
		return nil, err
	}
	// A power cut between a partial blob's last byte and its rename
	// leaves it whole: verify and install it now (or delete it).
	for id, p := range s.partials {
		if p.n < id.Size {
			continue
		}
		f, err := os.OpenFile(s.partialPath(id), os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("blob store: %w", err)
		}
		p.f = f
		if err := s.finish(id, p); err != nil {
			s.opts.Logger.Warn("blob store: a whole partial blob did not verify; deleted", "blob", id.String(), "err", err)
		}
	}
	return s, nil
}

// scan calls f for each regular file of Dir/sub; a file f refuses is
// removed (it is no blob this store wrote).
func (s *Store) scan(sub string, f func(name string, fi os.FileInfo) error) error {
	dir := filepath.Join(s.opts.Dir, sub)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("blob store: %w", err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if err := f(e.Name(), fi); err != nil {
			s.opts.Logger.Warn("blob store: removing a file that is no blob", "file", filepath.Join(sub, e.Name()), "err", err)
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

func (s *Store) path(id ID) string { return filepath.Join(s.opts.Dir, "sha256", id.Hex()) }

func (s *Store) partialPath(id ID) string {
	return filepath.Join(s.opts.Dir, "partial", id.Hex()+"-"+strconv.FormatInt(id.Size, 10))
}

// Has reports whether the store holds the complete blob.
func (s *Store) Has(id ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.complete[id]
	return ok
}

// Path returns the file of a complete blob. The file is read-only to the
// store's users: a task gets a copy or a hard link it cannot write through
// (the file's mode is 0400).
func (s *Store) Path(id ID) (string, error) {
	if !s.Has(id) {
		return "", fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return s.path(id), nil
}

// OpenBlob opens a complete blob for reading.
func (s *Store) OpenBlob(id ID) (*os.File, error) {
	p, err := s.Path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", id, err)
	}
	return f, nil
}

// Written returns how many bytes of the blob the store holds: its size
// when complete, else the length of its partial file (0 when none). A
// receiver asks for the rest from there.
func (s *Store) Written(id ID) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.complete[id]; ok {
		return id.Size
	}
	if p := s.partials[id]; p != nil {
		return p.n
	}
	return 0
}

// Usage returns the bytes held (complete plus reserved for partial blobs)
// and the quota.
func (s *Store) Usage() (used, quota int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used, s.opts.Quota
}

// reserve accounts for a new blob of size n. Called with mu held.
func (s *Store) reserve(id ID) error {
	if id.Size > s.opts.MaxBlob {
		return fmt.Errorf("%w: %s is %d bytes, this store takes at most %d", ErrTooLarge, id, id.Size, s.opts.MaxBlob)
	}
	if s.used+id.Size > s.opts.Quota {
		return fmt.Errorf("%w: %s needs %d bytes, %d of the quota's %d are in use", ErrQuota, id, id.Size, s.used, s.opts.Quota)
	}
	s.used += id.Size
	return nil
}

// Close closes the files of partial blobs; they resume at the next Open.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, p := range s.partials {
		if p.f != nil {
			errs = append(errs, p.f.Sync(), p.f.Close())
			p.f = nil
		}
	}
	return errors.Join(errs...)
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

// hashFile returns the ID of the file's bytes.
func hashFile(f *os.File) (ID, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return ID{}, err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return ID{}, err
	}
	var id ID
	h.Sum(id.Sum[:0])
	id.Size = n
	return id, nil
}
