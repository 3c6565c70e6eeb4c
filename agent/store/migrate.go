package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tether-edge/tether/pkg/kv"
)

// A store written before blobs (blob.go) holds its large records and
// checkpoints in Badger's value log, where value-log GC can write a
// deleted one back. Open migrates such a store once, before any write:
// when a value-log file holds an entry (kv.DB.ValueLogInUse), the live
// keys, read at one read timestamp, are written into a fresh store beside
// it as new writes are (values of ValueThreshold or more as blobs, a blob
// the old store had linked into the new blob directory), which replaces
// the old directory whole (kv.DB.Rebuild: crash-safe at every step). No
// file of the old store survives, so no older version and no deleted
// value can come back; the fresh store's value log holds nothing, so a
// migrated store is not migrated again.
//
// The disk needs room for a second copy of the live data, Badger's new
// files and the reserve. Without it, or if the rebuild fails, the old
// store is used as it is, logged, and the migration is tried again at
// the next Open.

// migration counts what a migration copied.
type migration struct {
	keys        int   // keys written to the new store
	records     int   // outbox records among them
	checkpoints int   // checkpoints among them
	moved       int   // values taken out of the value log into blobs
	movedBytes  int64 // their bytes
	linked      int   // blobs of the old store linked into the new one
	dropped     int   // unreadable outbox records left behind, counted
}

// migrate rebuilds the store db holds, which ld describes, without
// Badger's value log, and returns the DB to go on with, ld describing it:
// the migrated store, or the old one when the migration was refused or
// failed (logged; its ValueLogInUse still says so). The error is returned
// only when no store could be opened again.
func migrate(db *kv.DB, ld *loaded, bl blobs, o Options, check func(*badger.DB) error,
	log *slog.Logger) (*kv.DB, error) {
	start := time.Now()
	dir := db.Dir()
	need := ld.bytes + o.Profile.OpenBytes() + o.DiskReserve
	if free, err := o.freeBytes(dir); err == nil && free < need {
		log.Error("large values are still in Badger's value log, where a deleted one can come back; "+
			"not migrating them: not enough free disk space for a second copy (tried again at the next open)",
			"free_bytes", free, "need_bytes", need)
		return db, nil
	}
	old := *ld // check overwrites ld with what the rebuilt store holds
	var m migration
	ndb, err := db.Rebuild(kv.Rebuild{
		Build: func(dst *kv.DB) error {
			var err error
			m, err = copyLive(db, dst, bl, blobsFor(dst.Dir(), o.Profile), &old, o.migrateHook)
			return err
		},
		Check: check,
		Hook:  o.migrateHook,
	})
	if ndb == nil {
		return nil, fmt.Errorf("agent store: migrating out of Badger's value log: %w", err)
	}
	if ndb == db {
		*ld = old
	}
	if err != nil && ndb.ValueLogInUse() {
		log.Error("large values are still in Badger's value log, where a deleted one can come back; "+
			"migrating them failed, the store is used as it was (tried again at the next open)", "err", err)
		return ndb, nil
	}
	if err != nil { // after the swap: the next Open removes what is left
		log.Warn("store migrated, with an error after the new store replaced the old", "err", err)
	}
	log.Info("store migrated: large values moved out of Badger's value log into blob files, its old files removed",
		"keys", m.keys, "records", m.records, "checkpoints", m.checkpoints, "values_moved", m.moved,
		"bytes_moved", m.movedBytes, "blobs_linked", m.linked, "unreadable_dropped", m.dropped,
		"took", time.Since(start).Round(time.Millisecond))
	return ndb, nil
}

// copyLive writes every live key of src into dst, streaming: one value
// and one transaction's writes in memory at a time. Outbox records ld
// found unreadable are left behind and counted, as Open would delete and
// count them.
func copyLive(src, dst *kv.DB, from, to blobs, ld *loaded, hook func(string)) (migration, error) {
	var m migration
	corrupt := make(map[uint64]bool, len(ld.corrupt))
	for _, seq := range ld.corrupt {
		corrupt[seq] = true
	}
	// Blobs are written unsynced: the new store is not used before
	// kv.DB.Rebuild has synced all of it, and a cut before that discards it.
	txn := dst.NewTransaction(true)
	defer func() { txn.Discard() }()
	commits := 0
	commit := func() error {
		err := dst.Commit(txn)
		txn = dst.NewTransaction(true)
		if commits++; commits == 1 && hook != nil {
			hook("copying")
		}
		return err
	}
	set := func(k, v []byte) error {
		err := txn.Set(k, v)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := commit(); err != nil {
				return err
			}
			err = txn.Set(k, v)
		}
		return err
	}
	err := src.View(func(stxn *badger.Txn) error {
		it := stxn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.KeyCopy(nil)
			if bytes.Equal(k, keyCounters) {
				continue // written last, with the records left behind counted
			}
			if seq, err := seqOfOutboxKey(k); err == nil && corrupt[seq] {
				m.dropped++
				continue
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			v, err = m.place(k, v, from, to)
			if err != nil {
				return err
			}
			if err := set(k, v); err != nil {
				return err
			}
			m.keys++
		}
		return nil
	})
	if err != nil {
		return m, err
	}
	c := ld.counters
	c.Corrupt += uint64(len(ld.corrupt))
	if err := set(keyCounters, c.encode()); err != nil {
		return m, err
	}
	m.keys++
	return m, commit()
}

// place returns what the new store holds for key k whose value in the old
// store is v: v itself, or a reference to a blob in to.
func (m *migration) place(k, v []byte, from, to blobs) ([]byte, error) {
	if !blobKey(k) {
		if len(v) >= to.threshold {
			return nil, fmt.Errorf("key %q holds %d bytes: only records and checkpoints may be that large", k, len(v))
		}
		return v, nil
	}
	record := bytes.HasPrefix(k, prefixOutbox)
	if record {
		m.records++
	} else {
		m.checkpoints++
	}
	if isRef(v) {
		r, err := decodeRef(v)
		if err != nil {
			return nil, err
		}
		if err := linkBlob(from, to, r.Name, v); err != nil {
			return nil, err
		}
		m.linked++
		return v, nil
	}
	// Read back whole before it is copied: Badger returns an empty value
	// without an error when it cannot read one from its value log.
	var seq uint64
	var err error
	if record {
		if seq, err = seqOfOutboxKey(k); err == nil {
			_, err = decodeRecord(seq, v)
		}
	} else {
		_, seq, err = decodeCheckpoint(string(k[len(prefixCheckpoint):]), v)
	}
	if err != nil {
		return nil, err
	}
	if len(v) < to.threshold {
		return v, nil
	}
	ref, err := to.write(blobName(k, seq), v, false)
	if err != nil {
		return nil, err
	}
	m.moved++
	m.movedBytes += int64(len(v))
	return ref, nil
}

// linkBlob puts the old store's blob name into the new blob directory: a
// hard link (the data was synced when written), or a copy where the
// filesystem has no links.
func linkBlob(from, to blobs, name string, ref []byte) error {
	if err := os.MkdirAll(to.dir, 0o700); err != nil {
		return fmt.Errorf("blob directory: %w", err)
	}
	if err := os.Link(filepath.Join(from.dir, name), filepath.Join(to.dir, name)); err == nil {
		return nil
	}
	data, err := from.resolve(ref)
	if err != nil {
		return err
	}
	_, err = to.write(name, data, false)
	return err
}
