package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Journal records a task's transition, its checkpoint (nil: unchanged) and
// the outbox record of the task event, atomically in one transaction: after
// a crash either all three are there or none is. build makes the event's
// topic and payload with its seq, as for Append; the record is of kind
// KindTaskEvent. Journal returns once it is durable, like Append, with the
// same rules for a failing build, an ending ctx and a failed commit.
//
// t.Task may be left empty (it is task). The store keeps the last
// transition as the task's state (TaskState), every transition in order
// (History) and the last checkpoint written (Checkpoint).
func (s *Store) Journal(ctx context.Context, task string, t Transition, checkpoint []byte,
	build func(seq uint64) (topic string, payload []byte, err error)) (Record, error) {
	if t.Task == "" {
		t.Task = task
	}
	if err := t.check(task); err != nil {
		return Record{}, fmt.Errorf("agent store: %w", err)
	}
	if len(checkpoint) > MaxCheckpointLen {
		return Record{}, fmt.Errorf("agent store: task %s: checkpoint of %d bytes, above %d",
			task, len(checkpoint), MaxCheckpointLen)
	}
	if checkpoint != nil {
		checkpoint = append([]byte{}, checkpoint...) // the caller may reuse it before the commit
	}
	return s.write(ctx, KindTaskEvent, build, &journalOp{t: t, checkpoint: checkpoint})
}

// planJournal adds a journal op's writes to its unit; tasks holds the
// states as the batch's earlier ops leave them.
func (s *Store) planJournal(u *unit, o *op, tasks map[string]*TaskState) error {
	t, seq := o.journal.t, o.rec.Seq
	st, ok := tasks[t.Task]
	if !ok {
		cur, found, err := s.TaskState(t.Task)
		if err != nil {
			return err
		}
		if !found {
			cur = TaskState{Task: t.Task}
		}
		st = &cur
	}
	next := *st
	next.Attempt, next.State, next.Since, next.Detail = t.Attempt, t.To, t.At, t.Detail
	next.Transitions++
	next.Seq = seq
	u.set(taskKey(t.Task), encodeState(next))
	u.set(journalKey(t.Task, next.Transitions), encodeTransition(t, seq))
	if o.journal.checkpoint != nil {
		u.set(checkpointKey(t.Task), encodeCheckpoint(t.Attempt, seq, o.journal.checkpoint))
	}
	if err := s.failpoint("journal"); err != nil {
		return err
	}
	tasks[t.Task] = &next
	return nil
}

// TaskState returns a task's last transition; false if it has none.
func (s *Store) TaskState(task string) (TaskState, bool, error) {
	var st TaskState
	found, err := s.get(taskKey(task), func(v []byte) (err error) {
		st, err = decodeState(task, v)
		return err
	})
	return st, found, err
}

// Checkpoint returns a task's last checkpoint; false if it has none.
func (s *Store) Checkpoint(task string) ([]byte, bool, error) {
	var blob []byte
	found, err := s.get(checkpointKey(task), func(v []byte) (err error) {
		if v, err = s.blobs.resolve(v); err != nil {
			return err
		}
		blob, _, err = decodeCheckpoint(task, v)
		return err
	})
	return blob, found, err
}

// Tasks returns the state of every task the journal holds, by task id.
func (s *Store) Tasks() ([]TaskState, error) {
	var out []TaskState
	err := s.scan(prefixTask, func(k, v []byte) error {
		st, err := decodeState(string(k[len(prefixTask):]), v)
		if err == nil {
			out = append(out, st)
		}
		return err
	})
	return out, err
}

// History returns a task's transitions, oldest first; none while the task
// is being forgotten (forget.go).
func (s *Store) History(task string) ([]Transition, error) {
	var out []Transition
	err := s.db.View(func(txn *badger.Txn) error {
		if _, err := txn.Get(forgetKey(task)); err == nil {
			return nil
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: journalPrefix(task)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			err := it.Item().Value(func(v []byte) error {
				t, _, err := decodeTransition(task, v)
				if err == nil {
					out = append(out, t)
				}
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("agent store: %w", err)
	}
	return out, nil
}

// get reads one key; decode sees the value only while the read lasts.
func (s *Store) get(key []byte, decode func([]byte) error) (bool, error) {
	found := true
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			found = false
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(decode)
	})
	if err != nil {
		return false, fmt.Errorf("agent store: %w", err)
	}
	return found, nil
}

// scan calls fn for every key with prefix, in order.
func (s *Store) scan(prefix []byte, fn func(k, v []byte) error) error {
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if err := item.Value(func(v []byte) error { return fn(item.Key(), v) }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("agent store: %w", err)
	}
	return nil
}
