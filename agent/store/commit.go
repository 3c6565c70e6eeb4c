package store

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Group commit. Every write — Append, Journal, and the deletions of
// acknowledged or bounded-out records — joins the open batch; the first
// writer of a batch leads it:
//
//	Append ─► join the open batch ─┬─ first? lead: wait for the previous
//	                               │   batch's commit and for CommitInterval
//	                               │   since it, seal the batch, commit it
//	                               └─ else wait for the leader's commit
//
// A batch becomes one Badger transaction (more only if it outgrows
// Badger's transaction limit), which SyncWrites makes durable before
// Commit returns: at most one durable commit per CommitInterval, however
// many writers. An isolated write commits at once. Batches commit in the
// order they were opened, and seqs are handed out in that order, so the
// outbox on disk never has a later record without an earlier one of the
// same batch order.

// batch is a group of writes committed together.
type batch struct {
	ops  []*op
	done chan struct{} // closed when every op's err is set
}

// op is one write that must be atomic: an outbox record, with a journal
// transition and checkpoint for Journal.
type op struct {
	rec       Record
	value     []byte // encoded rec
	journal   *journalOp
	committed bool  // set by afterCommit
	err       error // set when not committed
}

type journalOp struct {
	t          Transition
	checkpoint []byte // nil: unchanged
}

// enqueue adds o (nil: none, a flush) to the open batch, opening one if
// needed; lead says the caller opened it and must commit it.
func (s *Store) enqueue(o *op) (b *batch, lead bool, err error) {
	if s.closed {
		return nil, false, ErrClosed
	}
	if s.cur == nil {
		s.cur = &batch{done: make(chan struct{})}
		s.leaders.Add(1)
		lead = true
	}
	if o != nil {
		s.cur.ops = append(s.cur.ops, o)
	}
	return s.cur, lead, nil
}

// lead commits b once the previous commit is CommitInterval old.
func (s *Store) lead(b *batch) {
	defer s.leaders.Done()
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	// On the monotonic clock: a wall clock stepped back (NTP on a device
	// without an RTC) must not hold every durable write for the step.
	since := time.Duration(s.age.now() - s.lastCommit.Load())
	if wait := s.opts.CommitInterval - since; wait > 0 {
		time.Sleep(wait) // bounded by CommitInterval; writers keep joining b
	}
	s.mu.Lock()
	if s.cur == b {
		s.cur = nil // sealed: later writers open the next batch
	}
	s.mu.Unlock()
	if s.refuseForDisk(b) {
		_ = s.commitBatch(b, nil) // each op has its error
		s.lastCommit.Store(s.age.now())
	}
	close(b.done)
}

// refuseForDisk looks at the free space before a commit and fails the ops
// of b the level refuses with ErrDiskFull, taking them out of b. It
// returns false when nothing may be written at all (acknowledgements and
// bounds wait for the next commit).
func (s *Store) refuseForDisk(b *batch) bool {
	level := s.disk.check()
	if level == diskOK {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := b.ops[:0:0]
	for _, o := range b.ops {
		if refuses(level, o.rec.Kind) {
			o.err = ErrDiskFull
			continue
		}
		kept = append(kept, o)
	}
	b.ops = kept
	return level != diskFull
}

// flush commits acknowledgements and bounds now, unless a batch is open
// (its commit will).
func (s *Store) flush() error {
	s.mu.Lock()
	if s.cur != nil {
		s.mu.Unlock()
		return nil
	}
	b, _, err := s.enqueue(nil)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.lead(b)
	return nil
}

// unit is what must share one transaction.
type unit struct {
	sets  [][2][]byte
	dels  [][]byte
	op    *op // nil for deletions
	seq   uint64
	count counters // what the deletions count as
	size  int64
}

func (u *unit) set(k, v []byte) { u.sets = append(u.sets, [2][]byte{k, v}) }

// estimate is Badger's own count of a unit's bytes (db.go sendToWriteCh,
// structs.go estimateSizeAndSetThreshold): key with its 8-byte version,
// the value or a 12-byte pointer to it, 2 bytes of meta.
func (u *unit) estimate(threshold int64) {
	u.size = 0
	for _, kv := range u.sets {
		v := int64(len(kv[1]))
		if v >= threshold {
			v = 12
		}
		u.size += int64(len(kv[0])) + 8 + v + 2
	}
	for _, k := range u.dels {
		u.size += int64(len(k)) + 8 + 2
	}
}

// commitBatch writes b's ops, the pending acknowledgements and what the
// bounds remove, in as few transactions as Badger allows, and sets every
// op's err. An extra unit (Close's session) goes last. It returns the
// first failure. The caller holds commitMu.
func (s *Store) commitBatch(b *batch, extra *unit) error {
	units, plan := s.planCommit(b)
	if extra != nil {
		units = append(units, extra)
	}
	threshold := s.opts.Profile.ValueThreshold
	for _, u := range units {
		u.estimate(threshold)
	}
	// Badger refuses a transaction of MaxBatchSize bytes or MaxBatchCount
	// entries; keep a margin for the meta keys and its own commit entry.
	maxSize := s.db.MaxBatchSize()*9/10 - 256
	maxCount := int(s.db.MaxBatchCount()) - 8
	var failed error
	for start := 0; start < len(units) && failed == nil; {
		end, size, count := start, int64(0), 0
		for end < len(units) && (end == start ||
			size+units[end].size <= maxSize && count+len(units[end].sets)+len(units[end].dels) <= maxCount) {
			size += units[end].size
			count += len(units[end].sets) + len(units[end].dels)
			end++
		}
		failed = s.commitUnits(units[start:end])
		if failed == nil {
			s.afterCommit(units[start:end])
		}
		start = end
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range b.ops {
		if !o.committed && o.err == nil {
			o.err = failed
			if o.err == nil {
				o.err = errors.New("agent store: write not committed") // cannot happen
			}
		}
	}
	for _, seq := range append(plan.downsampled, plan.dropped...) {
		if e := s.ix.find(seq); e != nil && e.st == victim {
			s.ix.setState(e, live) // their transaction failed
		}
	}
	if failed != nil {
		// Retried at the next commit (deleting twice is harmless).
		s.acks = append(plan.acks, s.acks...)
		s.corrupt = append(plan.corrupt, s.corrupt...)
		s.wakeRun()
		s.log.Error("agent store commit failed", "err", failed)
	}
	if plan.overflow && !s.overflow {
		s.log.Warn("outbox over its bound with only status and task events left: keeping them",
			"bytes", s.ix.bytes, "max_bytes", s.opts.MaxOutboxBytes)
	}
	s.overflow = plan.overflow
	return failed
}

// planCommit turns a sealed batch into units: one per op (journal ops read
// their task's state), one per deletion.
func (s *Store) planCommit(b *batch) ([]*unit, boundsPlan) {
	var units []*unit
	var incoming int64
	tasks := map[string]*TaskState{} // states as this batch leaves them
	for _, o := range b.ops {
		u := &unit{op: o, seq: o.rec.Seq}
		u.set(outboxKey(o.rec.Seq), o.value)
		incoming += int64(outboxKeyLen + len(o.value))
		if o.journal != nil {
			if err := s.planJournal(u, o, tasks); err != nil {
				o.err = err
				continue
			}
		}
		units = append(units, u)
	}
	s.mu.Lock()
	acks, corrupt := s.acks, s.corrupt
	s.acks, s.corrupt = nil, nil
	plan := s.ix.planBounds(incoming, s.opts.MaxOutboxBytes, s.age.now(), int64(s.opts.MaxOutboxAge))
	plan.acks, plan.corrupt = acks, corrupt
	s.mu.Unlock()
	for _, seq := range acks {
		units = append(units, &unit{dels: [][]byte{outboxKey(seq)}})
	}
	for _, seq := range corrupt {
		units = append(units, &unit{dels: [][]byte{outboxKey(seq)}, count: counters{Corrupt: 1}})
	}
	for _, seq := range plan.downsampled {
		units = append(units, &unit{dels: [][]byte{outboxKey(seq)}, count: counters{Downsampled: 1}})
	}
	for _, seq := range plan.dropped {
		units = append(units, &unit{dels: [][]byte{outboxKey(seq)}, count: counters{DroppedMetrics: 1}})
	}
	if n := len(plan.downsampled) + len(plan.dropped); n > 0 {
		s.log.Warn("outbox full or old: metrics removed", "downsampled", len(plan.downsampled),
			"dropped", len(plan.dropped))
	}
	return units, plan
}

// commitUnits commits units in one transaction with the meta keys their
// contents move: the next seq and the counters. The transaction reads
// (oldBlob) before its commit: on a wedged store that is ErrWedged too.
func (s *Store) commitUnits(units []*unit) error {
	return s.db.Guard(func() error { return s.commitUnitsTxn(units) })
}

func (s *Store) commitUnitsTxn(units []*unit) error {
	if err := s.failpoint("commit"); err != nil {
		return err
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	var maxSeq uint64
	var count counters
	var spilled, replaced []string // blobs written for this commit; blobs it drops
	committed := false
	defer func() {
		if !committed {
			s.blobs.remove(spilled)
		}
	}()
	for _, u := range units {
		for _, kv := range u.sets {
			v := kv[1]
			if blobKey(kv[0]) {
				old, err := s.oldBlob(txn, kv[0])
				if err != nil {
					return err
				}
				if len(v) >= s.blobs.threshold {
					name := blobName(kv[0], u.seq)
					if v, err = s.blobs.spill(name, v); err != nil {
						return fmt.Errorf("agent store: %w", err)
					}
					spilled = append(spilled, name)
				}
				if old != "" && !slices.Contains(spilled, old) {
					replaced = append(replaced, old)
				}
			}
			if err := txn.Set(kv[0], v); err != nil {
				return fmt.Errorf("agent store: %w", err)
			}
		}
		for _, k := range u.dels {
			old, err := s.oldBlob(txn, k)
			if err != nil {
				return err
			}
			if old != "" {
				replaced = append(replaced, old)
			}
			if err := txn.Delete(k); err != nil {
				return fmt.Errorf("agent store: %w", err)
			}
		}
		maxSeq = max(maxSeq, u.seq)
		count.add(u.count)
	}
	if maxSeq > 0 {
		if err := txn.Set(keyNext, u64Value(maxSeq+1)); err != nil {
			return fmt.Errorf("agent store: %w", err)
		}
	}
	if count != (counters{}) {
		total := s.committedCounters() // earlier transactions of the batch included
		total.add(count)
		if err := txn.Set(keyCounters, total.encode()); err != nil {
			return fmt.Errorf("agent store: %w", err)
		}
	}
	if len(spilled) > 0 {
		if err := s.blobs.sync(); err != nil {
			return fmt.Errorf("agent store: %w", err)
		}
	}
	err := s.db.Commit(txn) // the compactor looks at the tree after writes
	if err != nil {
		return fmt.Errorf("agent store: commit: %w", err)
	}
	committed = true
	s.blobs.remove(replaced) // only now that no durable key refers to them
	return nil
}

func (s *Store) committedCounters() counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters
}

// afterCommit brings the index and counters in line with committed units.
func (s *Store) afterCommit(units []*unit) {
	s.commits.Add(1)
	at := s.age.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range units {
		s.counters.add(u.count)
		if u.op != nil {
			s.ix.add(entry{seq: u.op.rec.Seq, at: at, size: uint32(outboxKeyLen + len(u.op.value)),
				kind: u.op.rec.Kind})
			u.op.committed = true
			s.records.Add(1)
			continue
		}
		for _, k := range u.dels {
			if seq, err := seqOfOutboxKey(k); err == nil {
				s.ix.remove(seq)
			}
		}
	}
}

func (s *Store) failpoint(name string) error {
	if s.opts.failpoint == nil {
		return nil
	}
	return s.opts.failpoint(name)
}

// errFailpoint is what tests inject.
var errFailpoint = errors.New("failpoint")
