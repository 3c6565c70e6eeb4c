package taskengine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/tether-edge/tether/pkg/kv"
)

// ErrNewerSchema: the task store was written by a newer scheduler. Open
// refuses it rather than misread it.
var ErrNewerSchema = errors.New("task store: written by a newer scheduler")

// Store is the scheduler's durable task store over a Backend (by default
// Badger through pkg/kv's Server profile), every commit durable when
// Commit returns. Commit is called by one goroutine at a time (the
// Service's loop); Finished may be called from it too.
type Store struct {
	b       Backend
	log     *slog.Logger
	commits atomic.Uint64
	writes  atomic.Uint64
}

// Loaded is what the store held at open: the tasks not yet finished with
// their checkpoints, and the fences.
type Loaded struct {
	Active      []*Task
	Checkpoints map[string]*Checkpoint
	Fences      []*Fence
	Quarantine  []*Quarantine
	// Damaged counts records that could not be read back and were
	// skipped (their keys are kept for inspection).
	Damaged int
}

// OpenStore opens (or creates) the task store in dir and reads what it
// holds. A store pkg/kv finds damaged is moved aside and a fresh one
// opened, with a non-nil Recovery the caller must report: the tasks it
// held are gone from the scheduler's view.
func OpenStore(dir string, log *slog.Logger) (*Store, Loaded, *kv.Recovery, error) {
	return openStore(dir, kv.Server(), log)
}

// OpenStoreOn reads the store b holds and returns a Store on it, writing
// the schema version when b holds none. On an error b is left open: the
// caller closes it. A damaged schema version is a *kv.CorruptError that
// the caller must act on (nothing moves it aside).
func OpenStoreOn(b Backend, log *slog.Logger) (*Store, Loaded, error) {
	log = storeLogger(log)
	ld, versioned, err := load(b, log)
	if err != nil {
		return nil, Loaded{}, err
	}
	if !versioned {
		if err := b.Commit([]Unit{versionUnit()}); err != nil {
			return nil, Loaded{}, fmt.Errorf("task store: writing the schema version: %w", err)
		}
	}
	return newStore(b, log), ld, nil
}

func newStore(b Backend, log *slog.Logger) *Store { return &Store{b: b, log: log} }

func storeLogger(log *slog.Logger) *slog.Logger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return log.With("component", "task-store")
}

func versionUnit() Unit { return Unit{{Key: keyVersion, Value: u32Value(schemaVersion)}} }

// reader is the part of a Backend load reads through.
type reader interface {
	Scan(prefix, after []byte, values bool, fn func(k, v []byte) (bool, error)) error
	Get(key []byte) ([]byte, error)
}

// load reads the store; versioned reports that it holds a schema version.
// A damaged schema version is a *kv.CorruptError (OpenStore's store is
// moved aside); a damaged record is skipped and counted.
func load(r reader, log *slog.Logger) (ld Loaded, versioned bool, err error) {
	ld = Loaded{Checkpoints: map[string]*Checkpoint{}}
	v, err := r.Get(keyVersion)
	if err != nil {
		return Loaded{}, false, err
	}
	if v == nil {
		return ld, false, checkEmpty(r)
	}
	if len(v) != 4 || binary.BigEndian.Uint32(v) == 0 {
		return Loaded{}, true, &kv.CorruptError{Reason: fmt.Sprintf("task store: schema version %x", v)}
	}
	if ver := binary.BigEndian.Uint32(v); ver != schemaVersion {
		return Loaded{}, true, fmt.Errorf("%w: schema version %d, this scheduler reads %d: upgrade tether-broker",
			ErrNewerSchema, ver, schemaVersion)
	}
	if err := loadRecords(r, log, &ld); err != nil {
		return Loaded{}, true, err
	}
	return ld, true, nil
}

func loadRecords(r reader, log *slog.Logger, ld *Loaded) error {
	finished := map[string]bool{}
	if err := scan(r, prefixFinished, false, func(k, _ []byte) error {
		finished[idOf(prefixFinished, k)] = true
		return nil
	}); err != nil {
		return err
	}
	damaged := func(err error) {
		ld.Damaged++
		log.Error("task store record skipped", "err", err)
	}
	if err := scan(r, prefixActive, true, func(k, v []byte) error {
		id := idOf(prefixActive, k)
		if finished[id] {
			return nil
		}
		t, err := decodeTask(id, v)
		if err != nil {
			damaged(err)
			return nil
		}
		ld.Active = append(ld.Active, t)
		return nil
	}); err != nil {
		return err
	}
	if err := scan(r, prefixCheckpoint, true, func(k, v []byte) error {
		id := idOf(prefixCheckpoint, k)
		c, err := decodeCheckpoint(id, v)
		if err != nil {
			damaged(err)
			return nil
		}
		ld.Checkpoints[id] = c
		return nil
	}); err != nil {
		return err
	}
	if err := scan(r, prefixFence, true, func(k, v []byte) error {
		node, id, ok := fenceOf(k)
		if !ok {
			damaged(fmt.Errorf("%w: fence key %q", errDamaged, k))
			return nil
		}
		f, err := decodeFence(node, id, v)
		if err != nil {
			damaged(err)
			return nil
		}
		ld.Fences = append(ld.Fences, f)
		return nil
	}); err != nil {
		return err
	}
	return scan(r, prefixQuarantine, true, func(k, v []byte) error {
		q, err := decodeQuarantine(idOf(prefixQuarantine, k), v)
		if err != nil {
			damaged(err)
			return nil
		}
		ld.Quarantine = append(ld.Quarantine, q)
		return nil
	})
}

// checkEmpty accepts a store without a version only if it holds nothing.
func checkEmpty(r reader) error {
	return r.Scan(nil, nil, false, func(k, _ []byte) (bool, error) {
		return false, &kv.CorruptError{Reason: fmt.Sprintf("task store: data (%q, …) but no schema version", k)}
	})
}

// scan calls fn for every key under prefix, with its value when values is
// set. The slices are valid only during the call.
func scan(r reader, prefix []byte, values bool, fn func(k, v []byte) error) error {
	return r.Scan(prefix, nil, values, func(k, v []byte) (bool, error) { return true, fn(k, v) })
}

// Commit writes units durably, each one atomically (the backend may split
// the call, never a unit). After an error the Store must not be used
// again: a restart reloads what was committed.
func (s *Store) Commit(units []Unit) error {
	if len(units) == 0 {
		return nil
	}
	if err := s.b.Commit(units); err != nil {
		return err
	}
	n := 0
	for _, u := range units {
		n += len(u)
	}
	s.commits.Add(1)
	s.writes.Add(uint64(n))
	return nil
}

// Finished reads a finished task; nil without an error when there is none.
func (s *Store) Finished(id string) (*Task, error) {
	v, err := s.b.Get(finishedKey(id))
	if err == nil && v == nil {
		return nil, nil
	}
	var t *Task
	if err == nil {
		t, err = decodeTask(id, v)
	}
	if err != nil {
		return nil, fmt.Errorf("task store: reading task %s: %w", id, err)
	}
	return t, nil
}

// Commits returns the number of durable commits so far (Commit calls that
// returned nil with something to write); Writes the number of keys they
// set or deleted.
func (s *Store) Commits() uint64 { return s.commits.Load() }

// Writes: see Commits.
func (s *Store) Writes() uint64 { return s.writes.Load() }

// Run does the backend's upkeep (Badger: value-log garbage collection)
// until ctx ends or the store is closed.
func (s *Store) Run(ctx context.Context) error { return s.b.Run(ctx) }

// Close closes the store and its backend. Every committed write is
// already durable.
func (s *Store) Close() error { return s.b.Close() }

// FinishedAfter returns up to limit finished tasks whose ids sort after
// after (empty: from the first), by id.
func (s *Store) FinishedAfter(after string, limit int) ([]*Task, error) {
	var out []*Task
	if limit <= 0 {
		return nil, nil
	}
	err := s.b.Scan(prefixFinished, finishedKey(after), true, func(k, v []byte) (bool, error) {
		id := idOf(prefixFinished, k)
		t, err := decodeTask(id, v)
		if err != nil {
			return true, nil // damaged: counted when the store was loaded
		}
		out = append(out, t)
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("task store: listing finished tasks: %w", err)
	}
	return out, nil
}
