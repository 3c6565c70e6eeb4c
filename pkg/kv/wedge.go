package kv

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// ErrWedged is returned by every write and every read of a DB after
// Badger could not create its next memtable (its write-ahead log: the
// filesystem was full). Badger leaves itself without an active memtable
// then: its next write would end the process (an assertion, log.Fatal)
// and every read faults (a nil dereference). The DB refuses both instead
// (Commit, View, Guard), and Run returns the error. Everything committed
// before is durable. The store takes writes again once it is opened again
// with room on the disk.
var ErrWedged = errors.New("store takes no writes until it is opened again: Badger could not create its next write-ahead log")

// Commit commits txn (a transaction from NewTransaction) and signals the
// write like Wrote. On a wedged DB it discards txn and returns ErrWedged.
func (d *DB) Commit(txn *badger.Txn) error {
	if err := d.wedgedErr(); err != nil {
		txn.Discard()
		return err
	}
	err := txn.Commit()
	d.Wrote()
	return d.noteWrite(err)
}

// wedgeReportWait is how long a read that faulted in Badger waits for the
// write that wedged it to say so (Guard).
const wedgeReportWait = 5 * time.Second

// Guard runs fn, which reads through this DB's transactions (View does,
// and a writing transaction's Get before Commit must), and returns
// ErrWedged instead on a wedged DB. Badger left without a memtable faults
// on every read (a nil dereference in its getMemTables), and a read can
// run into that between the failed write and Commit's return that wedges
// the DB here: Guard recovers that panic and returns ErrWedged once the
// write reports the wedge. A panic on a DB that is not wedged within
// wedgeReportWait goes on, its value and first stack in the message.
func (d *DB) Guard(fn func() error) (err error) {
	if err := d.wedgedErr(); err != nil {
		return err
	}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		stack := debug.Stack()
		for deadline := time.Now().Add(wedgeReportWait); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if w := d.wedgedErr(); w != nil {
				err = w
				return
			}
		}
		panic(fmt.Sprintf("%v\n\n(recovered by kv.Guard and raised again; where it was first raised:)\n%s", r, stack))
	}()
	return fn()
}

// Wedged reports whether the DB refuses writes (ErrWedged).
func (d *DB) Wedged() bool { return d.wedgedErr() != nil }

func (d *DB) wedgedErr() error {
	if e := d.wedged.Load(); e != nil {
		return *e
	}
	return nil
}

// noteWrite passes a write's error through, wedging the DB when Badger
// says it could not make a new memtable.
func (d *DB) noteWrite(err error) error {
	if err == nil || !strings.Contains(err.Error(), "cannot create new mem table") {
		return err
	}
	w := fmt.Errorf("%w (%v)", ErrWedged, err)
	if d.wedged.CompareAndSwap(nil, &w) {
		d.log.Error("the store can take no more writes: the disk filled under it", "err", err)
		select {
		case d.fault <- w:
		default:
		}
	}
	return w
}
