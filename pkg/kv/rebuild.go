package kv

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
)

// A rebuild replaces a store's directory with a fresh store written beside
// it, so that nothing of the old one's files — value-log entries of
// deleted values, older versions — is left for Badger to bring back. Its
// steps, and what a cut (kill -9, power) after each leaves:
//
//	1 build   <dir>.rebuild made, written, checked, closed, every file and
//	          directory in it fsynced     → dir as it was; the next Open
//	                                        removes <dir>.rebuild
//	2 retire  dir renamed <dir>.retired   → no dir: the next Open renames
//	                                        <dir>.rebuild to dir (complete:
//	                                        it was durable before step 2)
//	3 swap    <dir>.rebuild renamed dir   → the next Open removes
//	                                        <dir>.retired
//	4 remove  <dir>.retired removed
//
// The parent directory is fsynced after each rename, so the renames reach
// the disk in order. finishRebuild, the first thing Open does, completes
// or undoes whatever a cut left: the store is the old one or the rebuilt
// one, whole, never a mix and never missing.
const (
	rebuildSuffix = ".rebuild"
	retiredSuffix = ".retired"
	// rebuildMarker counts rebuilds started in dir that never returned
	// (the process died inside one), as the opening marker counts opens.
	rebuildMarker = "TETHER-REBUILDING"
	// maxRebuildAttempts: after this many rebuilds in a row, in one boot,
	// that never returned, a rebuild is postponed to the next boot: one
	// that crashes the process must not crash it at every start.
	maxRebuildAttempts = 3
)

// ErrRebuildPostponed: the last rebuilds of the store in this boot never
// returned (the process died inside them); the store is used as it is.
var ErrRebuildPostponed = errors.New("store rebuild postponed to the next boot: the last ones in this boot never finished")

// Rebuild says how to rebuild a store (DB.Rebuild).
type Rebuild struct {
	// Build writes the rebuilt store into dst, a fresh store with the same
	// profile, and returns the store's content as it left it. It must
	// leave nothing out: the old store is deleted once dst replaced it.
	Build func(dst *DB) error
	// Check reads the rebuilt store as OpenChecked's check: before it
	// replaces the old one (an error keeps the old one), and when it is
	// opened. nil: none.
	Check func(*badger.DB) error
	// Hook, for tests, is called after each step ("built", "retired",
	// "swapped", "removed"); nil: none.
	Hook func(step string)
}

// Rebuild replaces d's store with one r.Build writes beside it, and
// returns the DB to go on with: the rebuilt store, opened (nil error), or
// when the rebuild was postponed or failed (the error says why) the old
// store — d itself, or d's directory opened again once d was closed. d
// must not be used after Rebuild returned another DB. The caller makes
// sure the disk has room for a second copy of the live data: on a full
// disk Build fails and the old store is kept.
func (d *DB) Rebuild(r Rebuild) (*DB, error) {
	dir := d.dir
	marker := filepath.Join(dir, rebuildMarker)
	n, err := readCount(marker, d.boot)
	if err != nil {
		return d, fmt.Errorf("store rebuild marker: %w", err)
	}
	if n >= maxRebuildAttempts {
		return d, fmt.Errorf("%w (%d)", ErrRebuildPostponed, n)
	}
	if err := writeCount(marker, n+1, d.boot); err != nil {
		return d, fmt.Errorf("store rebuild marker: %w", err)
	}
	next := dir + rebuildSuffix
	if err := d.build(next, r); err != nil {
		_ = writeCount(marker, n, d.boot) // a rebuild that returned is no crash
		return d, err
	}
	hook(r, "built")
	// From here on d is closed: whatever fails, dir is opened again, and
	// finishRebuild there completes a swap a failure interrupted.
	var failed error
	if err := d.Close(); err != nil {
		failed = fmt.Errorf("closing the store to replace it: %w", err)
	}
	if failed == nil {
		failed = swap(dir, next, r)
	}
	db, _, err := openChecked(dir, d.profile, d.openLog, r.Check, d.boot)
	if err != nil {
		return nil, errors.Join(failed, err)
	}
	return db, failed
}

// build writes, checks and syncs the rebuilt store in next; on an error
// it removes what it wrote.
func (d *DB) build(next string, r Rebuild) (err error) {
	if err := os.RemoveAll(next); err != nil {
		return fmt.Errorf("store rebuild: %w", err)
	}
	dst, _, err := openChecked(next, d.profile, d.openLog, nil, d.boot)
	if err != nil {
		_ = os.RemoveAll(next)
		_ = syncDir(filepath.Dir(next))
		return fmt.Errorf("store rebuild: %w", err)
	}
	defer func() {
		if err != nil {
			discard(dst, next)
		}
	}()
	if err := r.Build(dst); err != nil {
		return fmt.Errorf("store rebuild: %w", err)
	}
	if r.Check != nil {
		if err := runCheck(dst.bdb, r.Check); err != nil {
			return fmt.Errorf("store rebuild: the rebuilt store fails its check: %w", err)
		}
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("store rebuild: closing the rebuilt store: %w", err)
	}
	if err := syncTree(next); err != nil {
		return fmt.Errorf("store rebuild: %w", err)
	}
	return nil
}

// discard removes a rebuild that failed, freeing its space first: every
// directory inside next (Badger keeps none: they are the caller's, such
// as the agent store's blobs) goes before Badger's close flushes its
// memtable, which a full disk may otherwise refuse.
func discard(dst *DB, next string) {
	if entries, err := os.ReadDir(next); err == nil {
		for _, e := range entries {
			if e.IsDir() {
				_ = os.RemoveAll(filepath.Join(next, e.Name()))
			}
		}
	}
	if err := dst.Close(); err != nil {
		dst.log.Warn("closing a failed store rebuild", "err", err)
	}
	_ = os.RemoveAll(next)
	_ = syncDir(filepath.Dir(next))
}

// swap puts the rebuilt store in next in dir's place (steps 2 to 4).
func swap(dir, next string, r Rebuild) error {
	parent, retired := filepath.Dir(dir), dir+retiredSuffix
	if err := os.RemoveAll(retired); err != nil {
		return fmt.Errorf("store rebuild: %w", err)
	}
	if err := os.Rename(dir, retired); err != nil {
		return fmt.Errorf("store rebuild: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("store rebuild: %w", err)
	}
	hook(r, "retired")
	if err := os.Rename(next, dir); err != nil {
		return fmt.Errorf("store rebuild: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("store rebuild: %w", err)
	}
	hook(r, "swapped")
	if err := os.RemoveAll(retired); err != nil {
		return fmt.Errorf("store rebuild: removing the old store: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("store rebuild: %w", err)
	}
	hook(r, "removed")
	return nil
}

func hook(r Rebuild, step string) {
	if r.Hook != nil {
		r.Hook(step)
	}
}

// finishRebuild completes or undoes a rebuild a cut interrupted (see the
// steps above), before dir is opened.
func finishRebuild(dir string, log *slog.Logger) error {
	parent, next, retired := filepath.Dir(dir), dir+rebuildSuffix, dir+retiredSuffix
	if exists(retired) {
		if !exists(dir) {
			from := next // complete: durable before dir was retired
			if !exists(next) {
				from = retired // cannot happen; the old store is whole
			}
			if err := os.Rename(from, dir); err != nil {
				return fmt.Errorf("finishing a store rebuild: %w", err)
			}
			if err := syncDir(parent); err != nil {
				return fmt.Errorf("finishing a store rebuild: %w", err)
			}
			log.Warn("store rebuild interrupted between its renames: finished", "from", from)
		}
		if exists(retired) {
			if err := os.RemoveAll(retired); err != nil {
				return fmt.Errorf("finishing a store rebuild: %w", err)
			}
			if err := syncDir(parent); err != nil {
				return fmt.Errorf("finishing a store rebuild: %w", err)
			}
			log.Warn("store rebuild interrupted after its swap: the old store removed")
		}
	}
	if exists(next) {
		if err := os.RemoveAll(next); err != nil {
			return fmt.Errorf("removing an unfinished store rebuild: %w", err)
		}
		if err := syncDir(parent); err != nil {
			return fmt.Errorf("removing an unfinished store rebuild: %w", err)
		}
		log.Warn("store rebuild interrupted before its swap: removed, the store is as it was")
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// syncTree makes every file and directory under root, root included,
// durable: one syncfs of its filesystem on Linux (syncfs_linux.go),
// else an fsync of each.
func syncTree(root string) error {
	if done, err := syncFS(root); done {
		return err
	}
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type()&fs.ModeType != 0 && !e.IsDir() {
			return nil // no symlinks or devices in a store
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}
