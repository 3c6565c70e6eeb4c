package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tether-edge/tether/pkg/kv"
	"github.com/tether-edge/tether/pkg/protocol"
)

// ErrNewerSchema: the store was written by a newer agent. Open refuses it
// rather than misread it; the operator upgrades the agent again, or moves
// the store aside to start a new one.
var ErrNewerSchema = errors.New("agent store: written by a newer agent")

// loaded is what Open's check reads from the store.
type loaded struct {
	fresh    bool // no schema version: a new store
	id       string
	next     uint64
	counters counters
	session  session
	epoch    uint64 // m/epoch; 0 when absent
	records  []loadedRecord
	corrupt  []uint64        // outbox records that cannot be read back
	blobs    map[string]bool // the blobs readable records and checkpoints refer to
	forget   []string        // tasks whose forgetting a crash interrupted (forget.go)
	bytes    int64           // the readable records' and checkpoints' values, blobs resolved
}

type loadedRecord struct {
	seq     uint64
	created time.Time
	size    uint32
	kind    Kind
}

// load reads and checks the whole store, as the check of
// kv.OpenChecked: damage in the meta keys, the task states, their
// histories or their checkpoints is a *kv.CorruptError (the store is
// moved aside: its sequence or its tasks cannot be trusted); an outbox
// record that cannot be read back is only counted and removed.
func load(db *badger.DB, bl blobs) (loaded, error) {
	ld := loaded{blobs: map[string]bool{}}
	err := db.View(func(txn *badger.Txn) error {
		v, found, err := value(txn, keyVersion)
		if err != nil {
			return err
		}
		if !found {
			return checkEmpty(txn, &ld)
		}
		if len(v) != 4 || binary.BigEndian.Uint32(v) == 0 {
			return damaged("schema version %x", v)
		}
		if ver := binary.BigEndian.Uint32(v); ver != schemaVersion {
			return fmt.Errorf("%w: schema version %d, this agent reads %d: upgrade the agent, or move the store aside",
				ErrNewerSchema, ver, schemaVersion)
		}
		if err := loadMeta(txn, &ld); err != nil {
			return err
		}
		if err := loadOutbox(txn, &ld, bl); err != nil {
			return err
		}
		return loadTasks(txn, &ld, bl)
	})
	return ld, err
}

// checkEmpty accepts a store without a version only if it holds nothing.
func checkEmpty(txn *badger.Txn, ld *loaded) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
	defer it.Close()
	it.Rewind()
	if it.Valid() {
		return damaged("the store holds data (%q, …) but no schema version", it.Item().KeyCopy(nil))
	}
	ld.fresh = true
	return nil
}

func loadMeta(txn *badger.Txn, ld *loaded) error {
	id, found, err := value(txn, keyID)
	if err != nil {
		return err
	}
	if !found || checkID(string(id)) != nil {
		return damaged("store id %q", id)
	}
	ld.id = string(id)
	next, found, err := value(txn, keyNext)
	if err != nil {
		return err
	}
	if ld.next, err = decodeU64("next seq", next); !found || err != nil || ld.next == 0 || ld.next > protocol.MaxSeq {
		return damaged("next seq %x", next)
	}
	if c, found, err := value(txn, keyCounters); err != nil {
		return err
	} else if found {
		if ld.counters, err = decodeCounters(c); err != nil {
			return damaged("%v", err)
		}
	}
	if sv, found, err := value(txn, keySession); err != nil {
		return err
	} else if found {
		if ld.session, err = decodeSession(sv); err != nil {
			return damaged("%v", err)
		}
	}
	if ev, found, err := value(txn, keyEpoch); err != nil {
		return err
	} else if found {
		if ld.epoch, err = decodeEpoch(ev); err != nil {
			return damaged("%v", err)
		}
	}
	return nil
}

// loadOutbox reads every record: the index is built from them.
func loadOutbox(txn *badger.Txn, ld *loaded, bl blobs) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefixOutbox})
	defer it.Close()
	var last uint64
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		seq, err := seqOfOutboxKey(item.Key())
		if err != nil {
			return damaged("%v", err)
		}
		last = seq
		err = item.Value(func(v []byte) error {
			ref := v
			v, err := bl.resolve(v)
			if err != nil {
				return err
			}
			r, err := decodeRecord(seq, v)
			if err == nil && isRef(ref) {
				r, _ := decodeRef(ref) // resolve decoded it
				ld.blobs[r.Name] = true
			}
			if err == nil {
				ld.records = append(ld.records, loadedRecord{seq: seq, created: r.Created,
					size: uint32(outboxKeyLen + len(v)), kind: r.Kind})
				ld.bytes += int64(len(v))
			}
			return err
		})
		if errors.Is(err, errCorruptValue) {
			ld.corrupt = append(ld.corrupt, seq)
			continue
		}
		if err != nil {
			return err
		}
	}
	if last >= ld.next {
		// m/next is written in the transaction of every record: a record
		// at or past it means the meta key went back.
		return damaged("outbox holds seq %d but the next seq is %d", last, ld.next)
	}
	return nil
}

// loadTasks checks every task state, transition and checkpoint.
func loadTasks(txn *badger.Txn, ld *loaded, bl blobs) error {
	for _, p := range [][]byte{prefixTask, prefixJournal, prefixCheckpoint, prefixForget} {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: p})
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.KeyCopy(nil)
			err := item.Value(func(v []byte) error {
				switch string(p) {
				case string(prefixForget):
					task := string(k[len(p):])
					if err := decodeForget(task, v); err != nil {
						return err
					}
					ld.forget = append(ld.forget, task)
					return nil
				case string(prefixTask):
					_, err := decodeState(string(k[len(p):]), v)
					return err
				case string(prefixCheckpoint):
					ref := v
					v, err := bl.resolve(v)
					if err != nil {
						return err
					}
					_, _, err = decodeCheckpoint(string(k[len(p):]), v)
					ld.bytes += int64(len(v))
					if err == nil && isRef(ref) {
						r, _ := decodeRef(ref)
						ld.blobs[r.Name] = true
					}
					return err
				}
				if len(k) < len(p)+1+4 || k[len(k)-5] != '/' {
					return fmt.Errorf("%w: journal key %q", errCorruptValue, k)
				}
				_, _, err := decodeTransition(string(k[len(p):len(k)-5]), v)
				return err
			})
			if err != nil {
				it.Close()
				return damaged("%v", err)
			}
		}
		it.Close()
	}
	return nil
}

func value(txn *badger.Txn, key []byte) ([]byte, bool, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v, err := item.ValueCopy(nil)
	return v, true, err
}

func damaged(format string, args ...any) error {
	return &kv.CorruptError{Reason: "agent store: " + fmt.Sprintf(format, args...)}
}
