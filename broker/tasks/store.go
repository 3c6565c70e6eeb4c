package tasks

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"github.com/tether-edge/tether/pkg/kv"
)

// ErrNewerSchema: the task store was written by a newer scheduler. Open
// refuses it rather than misread it.
var ErrNewerSchema = errors.New("task store: written by a newer scheduler")

// Store is the scheduler's durable task store: Badger through pkg/kv's
// Server profile, every commit durable when Commit returns. Commit is
// called by one goroutine at a time (the Service's loop); Finished may be
// called from it too.
type Store struct {
	db      *kv.DB
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

func openStore(dir string, p kv.Profile, log *slog.Logger) (*Store, Loaded, *kv.Recovery, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "task-store")
	var ld Loaded
	check := func(db *badger.DB) error {
		var err error
		ld, err = load(db, log)
		return err
	}
	db, rec, err := kv.OpenChecked(dir, p, log, check)
	if err != nil {
		return nil, Loaded{}, rec, err
	}
	s := &Store{db: db, log: log}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set(keyVersion, u32Value(schemaVersion)) }); err != nil {
		_ = db.Close()
		return nil, Loaded{}, rec, fmt.Errorf("task store: writing the schema version: %w", err)
	}
	return s, ld, rec, nil
}

// load reads the store as the check of kv.OpenChecked: a damaged
// schema version is a *kv.CorruptError (the store is moved aside); a
// damaged record is skipped and counted.
func load(db *badger.DB, log *slog.Logger) (Loaded, error) {
	ld := Loaded{Checkpoints: map[string]*Checkpoint{}}
	err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyVersion)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			return checkEmpty(txn)
		case err != nil:
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		if len(v) != 4 || binary.BigEndian.Uint32(v) == 0 {
			return &kv.CorruptError{Reason: fmt.Sprintf("task store: schema version %x", v)}
		}
		if ver := binary.BigEndian.Uint32(v); ver != schemaVersion {
			return fmt.Errorf("%w: schema version %d, this scheduler reads %d: upgrade tether-broker",
				ErrNewerSchema, ver, schemaVersion)
		}
		finished := map[string]bool{}
		if err := scan(txn, prefixFinished, false, func(k, _ []byte) error {
			finished[idOf(prefixFinished, k)] = true
			return nil
		}); err != nil {
			return err
		}
		damaged := func(err error) {
			ld.Damaged++
			log.Error("task store record skipped", "err", err)
		}
		if err := scan(txn, prefixActive, true, func(k, v []byte) error {
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
		if err := scan(txn, prefixCheckpoint, true, func(k, v []byte) error {
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
		if err := scan(txn, prefixFence, true, func(k, v []byte) error {
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
		return scan(txn, prefixQuarantine, true, func(k, v []byte) error {
			q, err := decodeQuarantine(idOf(prefixQuarantine, k), v)
			if err != nil {
				damaged(err)
				return nil
			}
			ld.Quarantine = append(ld.Quarantine, q)
			return nil
		})
	})
	return ld, err
}

// checkEmpty accepts a store without a version only if it holds nothing.
func checkEmpty(txn *badger.Txn) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
	defer it.Close()
	it.Rewind()
	if it.Valid() {
		return &kv.CorruptError{Reason: fmt.Sprintf("task store: data (%q, …) but no schema version", it.Item().KeyCopy(nil))}
	}
	return nil
}

// scan calls fn for every key under prefix, with its value when values is
// set. The slices are valid only during the call.
func scan(txn *badger.Txn, prefix []byte, values bool, fn func(k, v []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: values, PrefetchSize: 64})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		var v []byte
		if values {
			var err error
			if v, err = item.ValueCopy(nil); err != nil {
				return err
			}
		}
		if err := fn(item.Key(), v); err != nil {
			return err
		}
	}
	return nil
}

// write is one key set (value non-nil) or deleted.
type write struct {
	key, value []byte
}

// unit is writes that must share one transaction: a task's record with its
// checkpoint, or a task's move from a/ to f/.
type unit []write

func (u unit) size() int64 {
	var n int64
	for _, w := range u {
		// Badger's own estimate (structs.go): key, 8-byte version, value
		// or a 12-byte pointer to it, 2 bytes of meta.
		n += int64(len(w.key)) + 8 + int64(len(w.value)) + 2
	}
	return n
}

// Commit writes units durably: in one transaction, or in as few as
// Badger's transaction limits allow, never splitting a unit.
func (s *Store) Commit(units []unit) error {
	if len(units) == 0 {
		return nil
	}
	maxSize := s.db.MaxBatchSize()*9/10 - 256
	maxCount := int(s.db.MaxBatchCount()) - 8
	for start := 0; start < len(units); {
		end, size, count := start, int64(0), 0
		for end < len(units) && (end == start ||
			size+units[end].size() <= maxSize && count+len(units[end]) <= maxCount) {
			size += units[end].size()
			count += len(units[end])
			end++
		}
		if err := s.commit(units[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func (s *Store) commit(units []unit) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	n := 0
	for _, u := range units {
		for _, w := range u {
			var err error
			if w.value == nil {
				err = txn.Delete(w.key)
			} else {
				err = txn.Set(w.key, w.value)
			}
			if err != nil {
				return fmt.Errorf("task store: %w", err)
			}
			n++
		}
	}
	if err := s.db.Commit(txn); err != nil {
		return fmt.Errorf("task store: commit: %w", err)
	}
	s.commits.Add(1)
	s.writes.Add(uint64(n))
	return nil
}

// Finished reads a finished task; nil without an error when there is none.
func (s *Store) Finished(id string) (*Task, error) {
	var t *Task
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(finishedKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		t, err = decodeTask(id, v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("task store: reading task %s: %w", id, err)
	}
	return t, nil
}

// Commits returns the number of durable transactions so far; Writes the
// number of keys they set or deleted.
func (s *Store) Commits() uint64 { return s.commits.Load() }

// Writes: see Commits.
func (s *Store) Writes() uint64 { return s.writes.Load() }

// Run collects value-log garbage until ctx ends or the store is closed.
func (s *Store) Run(ctx context.Context) error {
	err := s.db.Run(ctx)
	if errors.Is(err, kv.ErrClosed) {
		return nil
	}
	return err
}

// Close closes the store. Every committed write is already durable.
func (s *Store) Close() error { return s.db.Close() }

// FinishedAfter returns up to limit finished tasks whose ids sort after
// after (empty: from the first), by id.
func (s *Store) FinishedAfter(after string, limit int) ([]*Task, error) {
	var out []*Task
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixFinished, PrefetchValues: true, PrefetchSize: min(limit, 100)})
		defer it.Close()
		for it.Seek(finishedKey(after)); it.ValidForPrefix(prefixFinished) && len(out) < limit; it.Next() {
			item := it.Item()
			id := string(item.Key()[len(prefixFinished):])
			if id <= after {
				continue
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			t, err := decodeTask(id, v)
			if err != nil {
				continue // damaged: counted when the store was loaded
			}
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("task store: listing finished tasks: %w", err)
	}
	return out, nil
}
