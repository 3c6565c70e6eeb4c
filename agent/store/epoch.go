package store

import (
	"fmt"
)

// The scheduler's leadership epoch (m/epoch): the highest the runner has
// accepted, so that an assignment of a deposed leader is refused across
// restarts too (agent/runner). It only rises. A store without the key has
// accepted none (0); a store set aside as damaged and replaced starts at 0
// again, like its sequence. The value is framed and checksummed like the
// other meta values but m/next: a flipped bit must not raise the epoch
// and make the agent refuse its leader for good.

const epochFormat = 1

func encodeEpoch(e uint64) []byte {
	enc := newEncoder(epochFormat, 8)
	enc.u64(e)
	return enc.finish()
}

func decodeEpoch(value []byte) (uint64, error) {
	d := newDecoder("epoch", value, epochFormat)
	e := d.count() // at most protocol.MaxSeq, as task.Assignment allows
	return e, d.done()
}

// Epoch returns the highest epoch RaiseEpoch has made durable (0: none).
func (s *Store) Epoch() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epoch
}

// RaiseEpoch makes e the highest epoch accepted, if it is higher than the
// one the store holds; it is on disk when RaiseEpoch returns nil. It fails
// with ErrDiskFull below a quarter of the disk reserve, as every write
// does, and with ErrClosed after Close; the store keeps its epoch then.
func (s *Store) RaiseEpoch(e uint64) error {
	s.commitMu.Lock() // one raise at a time, and none in a commit's middle
	defer s.commitMu.Unlock()
	s.mu.Lock()
	closed, cur := s.closed, s.epoch
	s.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case e <= cur:
		return nil
	}
	if s.disk.check() == diskFull {
		return ErrDiskFull
	}
	if err := s.failpoint("epoch"); err != nil {
		return err
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if err := txn.Set(keyEpoch, encodeEpoch(e)); err != nil {
		return fmt.Errorf("agent store: raising the epoch: %w", err)
	}
	if err := s.db.Commit(txn); err != nil {
		return fmt.Errorf("agent store: raising the epoch: %w", err)
	}
	s.commits.Add(1)
	s.mu.Lock()
	s.epoch = e
	s.mu.Unlock()
	return nil
}
