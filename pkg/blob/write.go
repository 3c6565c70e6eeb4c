package blob

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Put stores the size bytes r yields and returns their ID. The bytes go to
// a temporary file, are fsynced, and are renamed into place only then, so a
// power cut leaves either no blob or the whole blob. The quota is checked
// before anything is written; r yielding more or fewer than size bytes is
// an error and stores nothing.
func (s *Store) Put(r io.Reader, size int64) (ID, error) {
	if size < 0 || size > s.opts.MaxBlob {
		return ID{}, fmt.Errorf("%w: %d bytes, this store takes at most %d", ErrTooLarge, size, s.opts.MaxBlob)
	}
	s.mu.Lock()
	err := s.reserve(ID{Size: size})
	s.mu.Unlock()
	if err != nil {
		return ID{}, err
	}
	id, err := s.put(r, size)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used -= size // the reservation; a stored blob is counted below
	if err != nil {
		return ID{}, err
	}
	if _, ok := s.complete[id]; !ok {
		s.complete[id] = struct{}{}
		s.used += size
	}
	return id, nil
}

// put writes r to a temporary file and renames it to its blob file.
func (s *Store) put(r io.Reader, size int64) (ID, error) {
	f, err := os.CreateTemp(filepath.Join(s.opts.Dir, "tmp"), "put-")
	if err != nil {
		return ID{}, fmt.Errorf("blob put: %w", err)
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, size+1))
	if err != nil {
		return ID{}, fmt.Errorf("blob put: %w", err)
	}
	if n != size {
		return ID{}, fmt.Errorf("blob put: got %d bytes, expected %d", n, size)
	}
	id := ID{Size: size}
	h.Sum(id.Sum[:0])
	if err := f.Chmod(0o400); err != nil {
		return ID{}, fmt.Errorf("blob put: %w", err)
	}
	if err := f.Sync(); err != nil {
		return ID{}, fmt.Errorf("blob put: %w", err)
	}
	if err := s.install(f.Name(), id); err != nil {
		return ID{}, err
	}
	return id, nil
}

// install renames a verified, synced file to id's blob file and makes the
// rename durable.
func (s *Store) install(from string, id ID) error {
	if err := os.Rename(from, s.path(id)); err != nil {
		return fmt.Errorf("blob install: %w", err)
	}
	if err := syncDir(filepath.Join(s.opts.Dir, "sha256")); err != nil {
		return fmt.Errorf("blob install: %w", err)
	}
	return nil
}

// Append writes data at off into the partial blob id, starting it (and
// reserving its size under the quota) when off is 0 and none exists. off
// must be where the partial blob ends; otherwise Append returns an
// *OffsetError saying where that is. When the last byte arrives the blob
// is fsynced, hashed from the file and renamed into place: done is true
// then. A blob whose bytes do not match id is deleted (ErrCorrupt).
// Appending to a blob that is complete does nothing and reports done.
func (s *Store) Append(id ID, off int64, data []byte) (done bool, err error) {
	if err := id.Validate(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.complete[id]; ok {
		return true, nil
	}
	p := s.partials[id]
	if p == nil {
		if err := s.reserve(id); err != nil {
			return false, err
		}
		p = &partial{}
		s.partials[id] = p
	}
	if off != p.n {
		return false, &OffsetError{Got: off, Have: p.n}
	}
	if int64(len(data)) > id.Size-off {
		return false, fmt.Errorf("blob %s: %d bytes at %d run past its end", id, len(data), off)
	}
	if p.f == nil {
		f, err := os.OpenFile(s.partialPath(id), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return false, fmt.Errorf("blob append: %w", err)
		}
		p.f = f
	}
	if _, err := p.f.WriteAt(data, off); err != nil {
		// The file may now hold part of data: cut it back to what was
		// there, so the next Append continues from a known length.
		_ = p.f.Truncate(p.n)
		return false, fmt.Errorf("blob append: %w", err)
	}
	p.n += int64(len(data))
	p.unsynced += int64(len(data))
	if p.n < id.Size {
		if p.unsynced >= s.opts.SyncEvery {
			if err := p.f.Sync(); err != nil {
				return false, fmt.Errorf("blob append: %w", err)
			}
			p.unsynced = 0
		}
		return false, nil
	}
	return true, s.finish(id, p)
}

// finish verifies a partial blob that has all its bytes and installs it.
// Called with mu held.
func (s *Store) finish(id ID, p *partial) error {
	f := p.f
	p.f = nil
	got, err := hashFile(f)
	if err == nil {
		err = f.Chmod(0o400)
	}
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil && got != id {
		err = fmt.Errorf("%w: %s arrived as %s", ErrCorrupt, id, got)
	}
	if err == nil {
		err = s.install(s.partialPath(id), id)
	}
	delete(s.partials, id)
	if err != nil {
		s.used -= id.Size
		_ = os.Remove(s.partialPath(id))
		return err
	}
	s.complete[id] = struct{}{}
	return nil
}

// Remove deletes the blob, complete or partial.
func (s *Store) Remove(id ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remove(id)
}

// remove is Remove with mu held.
func (s *Store) remove(id ID) error {
	if _, ok := s.complete[id]; ok {
		if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("blob remove: %w", err)
		}
		delete(s.complete, id)
		s.used -= id.Size
	}
	if p := s.partials[id]; p != nil {
		if p.f != nil {
			_ = p.f.Close()
		}
		if err := os.Remove(s.partialPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("blob remove: %w", err)
		}
		delete(s.partials, id)
		s.used -= id.Size
	}
	return nil
}

// GC deletes every blob, complete or partial, that keep does not claim,
// and returns how many it deleted and the bytes that freed. keep is called
// with the store locked and must not call the store.
func (s *Store) GC(keep func(ID) bool) (n int, freed int64, err error) {
	return s.GCBefore(keep, time.Time{})
}

// GCBefore is GC that also keeps every blob whose file changed at or
// after before (a zero before keeps none for its age): a blob just
// installed, or a transfer still writing, is not yet claimed by what
// will refer to it. The age is the file's modification time, the only
// clock a blob has across restarts.
func (s *Store) GCBefore(keep func(ID) bool, before time.Time) (n int, freed int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []ID
	for id := range s.complete {
		ids = append(ids, id)
	}
	for id := range s.partials {
		ids = append(ids, id)
	}
	for _, id := range ids {
		if keep(id) || !before.IsZero() && s.touchedSince(id, before) {
			continue
		}
		used := s.used
		if err := s.remove(id); err != nil {
			return n, freed, err
		}
		n++
		freed += used - s.used
	}
	return n, freed, nil
}

// Touch marks id as just used, so GCBefore keeps it as it keeps a blob
// just written: its file's modification time becomes now. It reports
// whether the store holds id, complete or partial. It takes the store's
// lock, as GCBefore does for its whole scan, so a blob is either touched
// before a scan reads its time (and kept) or was deleted before Touch
// (which then reports false): a caller that touches what it is about to
// refer to, before it commits the reference, never has a blob collected
// from under a reference the collection could not see.
func (s *Store) Touch(id ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.path(id)
	if _, ok := s.complete[id]; !ok {
		if _, ok := s.partials[id]; !ok {
			return false
		}
		p = s.partialPath(id)
	}
	now := time.Now()
	return os.Chtimes(p, now, now) == nil
}

// touchedSince reports whether id's file, complete or partial, changed at
// or after t; a file it cannot stat counts as touched (kept). mu is held.
func (s *Store) touchedSince(id ID, t time.Time) bool {
	p := s.path(id)
	if _, ok := s.complete[id]; !ok {
		p = s.partialPath(id)
	}
	fi, err := os.Stat(p)
	return err != nil || !fi.ModTime().Before(t)
}
