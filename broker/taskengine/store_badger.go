package taskengine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"github.com/tether-edge/tether/pkg/kv"
)

// badgerBackend is the one-box Backend: Badger through pkg/kv, a commit
// durable when it returns (the profile's SyncWrites).
type badgerBackend struct {
	db *kv.DB
	// txns counts the Badger transactions Commit made: more than its
	// calls when a call is split by Badger's limits.
	txns atomic.Uint64
}

var _ Backend = (*badgerBackend)(nil)

func openStore(dir string, p kv.Profile, log *slog.Logger) (*Store, Loaded, *kv.Recovery, error) {
	log = storeLogger(log)
	var ld Loaded
	// The load is pkg/kv's check: a damaged schema version moves the
	// store aside and a fresh one is opened.
	check := func(db *badger.DB) error {
		return db.View(func(txn *badger.Txn) error {
			var err error
			ld, _, err = load(txnReader{txn}, log)
			return err
		})
	}
	db, rec, err := kv.OpenChecked(dir, p, log, check)
	if err != nil {
		return nil, Loaded{}, rec, err
	}
	b := &badgerBackend{db: db}
	// Written at every open, as the key schema says.
	if err := b.Commit([]Unit{versionUnit()}); err != nil {
		_ = db.Close()
		return nil, Loaded{}, rec, fmt.Errorf("task store: writing the schema version: %w", err)
	}
	return newStore(b, log), ld, rec, nil
}

func (b *badgerBackend) Scan(prefix, after []byte, values bool, fn func(k, v []byte) (bool, error)) error {
	return b.db.View(func(txn *badger.Txn) error { return txnReader{txn}.Scan(prefix, after, values, fn) })
}

func (b *badgerBackend) Get(key []byte) ([]byte, error) {
	var v []byte
	err := b.db.View(func(txn *badger.Txn) error {
		var err error
		v, err = txnReader{txn}.Get(key)
		return err
	})
	return v, err
}

// Commit writes units in one transaction, or in as few as Badger's
// transaction limits allow, never splitting a unit.
func (b *badgerBackend) Commit(units []Unit) error {
	maxSize := b.db.MaxBatchSize()*9/10 - 256
	maxCount := int(b.db.MaxBatchCount()) - 8
	for start := 0; start < len(units); {
		end, size, count := start, int64(0), 0
		for end < len(units) && (end == start ||
			size+unitSize(units[end]) <= maxSize && count+len(units[end]) <= maxCount) {
			size += unitSize(units[end])
			count += len(units[end])
			end++
		}
		if err := b.commit(units[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func (b *badgerBackend) commit(units []Unit) error {
	txn := b.db.NewTransaction(true)
	defer txn.Discard()
	for _, u := range units {
		for _, w := range u {
			var err error
			if w.Value == nil {
				err = txn.Delete(w.Key)
			} else {
				err = txn.Set(w.Key, w.Value)
			}
			if err != nil {
				return fmt.Errorf("task store: %w", err)
			}
		}
	}
	if err := b.db.Commit(txn); err != nil {
		return fmt.Errorf("task store: commit: %w", err)
	}
	b.txns.Add(1)
	return nil
}

// unitSize is Badger's own estimate of u (structs.go): per write its key,
// an 8-byte version, its value or a 12-byte pointer to it, 2 bytes of meta.
func unitSize(u Unit) int64 {
	var n int64
	for _, w := range u {
		n += int64(len(w.Key)) + 8 + int64(len(w.Value)) + 2
	}
	return n
}

// Run collects value-log garbage until ctx ends or the store is closed.
func (b *badgerBackend) Run(ctx context.Context) error {
	err := b.db.Run(ctx)
	if errors.Is(err, kv.ErrClosed) {
		return nil
	}
	return err
}

func (b *badgerBackend) Close() error { return b.db.Close() }

// txnReader reads through one Badger transaction: load's consistent view
// inside kv.OpenChecked's check, and each of badgerBackend's reads.
type txnReader struct{ txn *badger.Txn }

func (r txnReader) Scan(prefix, after []byte, values bool, fn func(k, v []byte) (bool, error)) error {
	it := r.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: values, PrefetchSize: 64})
	defer it.Close()
	start := prefix
	if bytes.Compare(after, start) > 0 {
		start = after
	}
	for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		if after != nil && bytes.Equal(item.Key(), after) {
			continue
		}
		var v []byte
		if values {
			var err error
			if v, err = item.ValueCopy(nil); err != nil {
				return err
			}
			if v == nil {
				v = []byte{} // set, but empty
			}
		}
		if more, err := fn(item.Key(), v); err != nil || !more {
			return err
		}
	}
	return nil
}

func (r txnReader) Get(key []byte) ([]byte, error) {
	item, err := r.txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v, err := item.ValueCopy(nil)
	if err == nil && v == nil {
		v = []byte{} // set, but empty
	}
	return v, err
}
