package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Append hands out the next sequence number, calls build with it (so the
// seq can go inside the payload), stores the record and returns once it is
// durable: fsynced by the group commit it shares with concurrent writes
// (see Options.CommitInterval). Status records are retained; every record
// goes with QoS 1.
//
// build runs with the store's seq lock held: it must be quick and must not
// call the Store. If build fails, nothing is stored and no seq is spent. If ctx ends
// first, Append returns ctx's error; the record may still be committed and
// sent (the seq is spent either way). If the commit fails, the seq is spent:
// the scheduler sees a gap, never a reused seq.
func (s *Store) Append(ctx context.Context, kind Kind, build func(seq uint64) (topic string, payload []byte, err error)) (Record, error) {
	if !kind.valid() {
		return Record{}, fmt.Errorf("agent store: unknown record kind %d", kind)
	}
	return s.write(ctx, kind, build, nil)
}

// write is Append and Journal: it builds the record under the seq lock and
// joins (or leads) the open batch.
func (s *Store) write(ctx context.Context, kind Kind, build func(uint64) (string, []byte, error), j *journalOp) (Record, error) {
	if build == nil {
		return Record{}, errors.New("agent store: nil build")
	}
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	// Refused before a seq is spent; looked at again when the last look
	// refused, so a write notices freed space at once.
	if refuses(s.disk.level.Load(), kind) && refuses(s.disk.check(), kind) {
		return Record{}, ErrDiskFull
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Record{}, ErrClosed
	}
	seq := s.next
	topic, payload, err := build(seq)
	if err != nil {
		s.mu.Unlock()
		return Record{}, err
	}
	if err := checkTopic(topic); err != nil {
		s.mu.Unlock()
		return Record{}, fmt.Errorf("agent store: record %d: %w", seq, err)
	}
	if len(payload) > MaxPayloadLen {
		s.mu.Unlock()
		return Record{}, fmt.Errorf("agent store: record %d: payload of %d bytes, above %d", seq, len(payload), MaxPayloadLen)
	}
	r := Record{Seq: seq, Kind: kind, Topic: topic, QoS: kind.qos(), Retained: kind.retained(),
		Payload: payload, Created: s.opts.Now().Round(0).UTC()}
	o := &op{rec: r, value: encodeRecord(r), journal: j}
	b, lead, err := s.enqueue(o)
	if err != nil {
		s.mu.Unlock()
		return Record{}, err
	}
	s.next++
	s.mu.Unlock()
	if lead {
		s.lead(b) // the leader commits whatever its context says
	} else {
		select {
		case <-b.done:
		case <-ctx.Done():
			return Record{}, ctx.Err()
		}
	}
	if o.err != nil {
		return Record{}, o.err
	}
	return r, nil
}

// Pending returns up to limit records with seq > after, oldest first,
// leaving out those acknowledged. A record that cannot be read back is
// left out too: counted (OutboxStats.Corrupt), logged and deleted.
func (s *Store) Pending(after uint64, limit int) ([]Record, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []Record
	var corrupt []uint64
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefixOutbox})
		defer it.Close()
		for it.Seek(outboxKey(after + 1)); it.Valid() && len(out) < limit; it.Next() {
			item := it.Item()
			seq, err := seqOfOutboxKey(item.Key())
			if err != nil {
				continue // not an outbox key: cannot be, the prefix is
			}
			if !s.pendingLive(seq) {
				continue
			}
			var r Record
			err = item.Value(func(v []byte) error {
				if v, err = s.blobs.resolve(v); err != nil {
					return err
				}
				r, err = decodeRecord(seq, v)
				return err
			})
			if err != nil {
				s.log.Error("outbox record cannot be read back; removing it", "seq", seq, "err", err)
				corrupt = append(corrupt, seq)
				continue
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("agent store: reading the outbox: %w", err)
	}
	if len(corrupt) > 0 {
		s.dropCorrupt(corrupt)
	}
	return out, nil
}

// pendingLive reports whether seq is still to be sent: in the index and
// not acknowledged or being removed.
func (s *Store) pendingLive(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.ix.find(seq)
	return e != nil && e.st == live
}

// dropCorrupt removes unreadable records at the next commit, counted.
func (s *Store) dropCorrupt(seqs []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seq := range seqs {
		if e := s.ix.find(seq); e != nil && e.st == live {
			s.ix.setState(e, acked)
			s.corrupt = append(s.corrupt, seq)
			if len(s.acks)+len(s.corrupt) == 1 {
				s.wakeRun()
			}
		}
	}
}

// Ack records that the broker acknowledged seq: the record is left out of
// Pending at once and deleted at the next commit (one that carries records,
// or Run's after AckInterval). The deletion is not made durable on its own:
// after a crash the record is sent again, and the scheduler drops the
// duplicate. Acknowledging an unknown seq does nothing.
func (s *Store) Ack(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if e := s.ix.find(seq); e != nil && e.st == live {
		s.ix.setState(e, acked)
		s.acks = append(s.acks, seq)
		if len(s.acks)+len(s.corrupt) == 1 {
			s.wakeRun()
		}
	}
	return nil
}

// OutboxStats describes the outbox for the agent's reports.
type OutboxStats struct {
	Count  int       // records waiting for the broker's PUBACK
	Bytes  int64     // their size on disk (keys and values)
	Oldest time.Time // Created of the oldest of them; zero when none
	// Loss, counted since the store was created (persisted):
	DroppedMetrics uint64 // metrics dropped: oldest first when full, or too old
	Downsampled    uint64 // metrics removed to thin a full outbox
	Corrupt        uint64 // records that could not be read back
	// Overflow: the outbox is over MaxOutboxBytes and only status records
	// and task events are left, which are kept.
	Overflow bool
}

// OutboxStats returns the outbox's statistics.
func (s *Store) OutboxStats() OutboxStats {
	s.mu.Lock()
	st := OutboxStats{Count: s.ix.live, Bytes: s.ix.bytes, DroppedMetrics: s.counters.DroppedMetrics,
		Downsampled: s.counters.Downsampled, Corrupt: s.counters.Corrupt, Overflow: s.overflow}
	oldest, ok := s.ix.oldestLive()
	s.mu.Unlock()
	if ok {
		_ = s.db.View(func(txn *badger.Txn) error {
			item, err := txn.Get(outboxKey(oldest.seq))
			if err != nil {
				return err
			}
			return item.Value(func(v []byte) error {
				v, err := s.blobs.resolve(v)
				if err != nil {
					return err
				}
				r, err := decodeRecord(oldest.seq, v)
				st.Oldest = r.Created
				return err
			})
		})
	}
	return st
}
