package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/tether-edge/tether/pkg/protocol"
)

// Forgetting a task is atomic across crashes. Its history (j/<task>/<n>)
// has no bound, so its deletion may span several Badger transactions
// (each at most 15 % of a memtable). The first transaction deletes the
// task's state (t/) and checkpoint (c/) and writes the tombstone
// f/<task>; the later ones delete the history, the last one the
// tombstone with it. A crash in between leaves the tombstone: Open
// finishes the forgetting before it returns the store (finishForgets),
// and History reads nothing of a task with a tombstone. So every reader
// sees the whole task or none of it. When it all fits in one transaction
// the tombstone is written and deleted in it: only the deletions remain.

const forgetFormat = 1

func forgetKey(task string) []byte { return append(append([]byte(nil), prefixForget...), task...) }

func encodeForget(task string) []byte {
	e := newEncoder(forgetFormat, len(task)+8)
	e.str(task)
	return e.finish()
}

func decodeForget(task string, value []byte) error {
	d := newDecoder("tombstone of task "+task, value, forgetFormat)
	got := d.str(protocol.MaxIDLen)
	if err := d.done(); err != nil {
		return err
	}
	if got != task {
		d.fail("task %q", got)
		return d.err
	}
	return nil
}

// ForgetTask deletes a task's state, history and checkpoint: the runner
// calls it once the scheduler has the task's end. It is durable on
// return, and all or nothing across a crash (see above).
func (s *Store) ForgetTask(task string) error {
	s.commitMu.Lock() // no journal op of the task is being planned
	defer s.commitMu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if err := protocol.ValidateID("task id", task); err != nil {
		return fmt.Errorf("agent store: %w", err)
	}
	var old string
	err := s.db.View(func(txn *badger.Txn) (err error) {
		old, err = s.oldBlob(txn, checkpointKey(task))
		return err
	})
	if err != nil {
		return err
	}
	if err := s.forget(task, false); err != nil {
		return fmt.Errorf("agent store: forgetting task %s: %w", task, err)
	}
	if old != "" {
		s.blobs.remove([]string{old}) // the deletion is durable: SyncWrites
	}
	return nil
}

// forget deletes task's keys: from the start, or (resume) the history
// and tombstone a crash left. The caller holds commitMu, or is Open.
func (s *Store) forget(task string, resume bool) error {
	var history [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: journalPrefix(task)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			history = append(history, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return err
	}
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	if !resume {
		// Together in the first transaction, whatever follows.
		if err := txn.Set(forgetKey(task), encodeForget(task)); err != nil {
			return err
		}
		for _, k := range [][]byte{taskKey(task), checkpointKey(task)} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
	}
	commit := func() error {
		err := s.db.Commit(txn)
		if err != nil {
			return err
		}
		s.commits.Add(1)
		txn = s.db.NewTransaction(true)
		return s.failpoint("forget")
	}
	n := 0
	for _, k := range append(history, forgetKey(task)) {
		if per := s.opts.forgetPerTxn; per > 0 && n == per {
			if err := commit(); err != nil {
				return err
			}
			n = 0
		}
		err := txn.Delete(k)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := commit(); err != nil {
				return err
			}
			n, err = 0, txn.Delete(k)
		}
		if err != nil {
			return err
		}
		n++
	}
	return commit()
}

// finishForgets completes the forgettings a crash interrupted; Open calls
// it before the store takes any write.
func (s *Store) finishForgets(tasks []string) error {
	for _, task := range tasks {
		if err := s.forget(task, true); err != nil {
			return fmt.Errorf("agent store: finishing forgetting task %s: %w", task, err)
		}
		s.log.Info("finished forgetting a task an interruption left half-forgotten", "task", task)
	}
	return nil
}
