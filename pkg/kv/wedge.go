package kv

import (
	"errors"
	"fmt"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
)

// ErrWedged is returned by every write of a DB after Badger could not
// create its next memtable (its write-ahead log: the filesystem was full).
// Badger leaves itself without an active memtable then, and its next
// write would end the process (an assertion, log.Fatal); the DB refuses
// writes instead, and Run returns the error. Everything committed before
// is durable. The store takes writes again once it is opened again with
// room on the disk.
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
