package kv

import badger "github.com/dgraph-io/badger/v4"

// View runs fn in a read-only transaction (badger.DB.View). On a wedged
// DB it returns ErrWedged (Guard).
func (d *DB) View(fn func(txn *badger.Txn) error) error {
	return d.Guard(func() error { return d.bdb.View(fn) })
}

// NewTransaction starts a transaction (badger.DB.NewTransaction). Commit
// a writing one with the DB's Commit, which signals the compactor and
// keeps a DB whose disk filled from ending the process (wedge.go).
func (d *DB) NewTransaction(update bool) *badger.Txn { return d.bdb.NewTransaction(update) }

// NewWriteBatch starts a write batch (badger.DB.NewWriteBatch); call
// Wrote after its Flush. Not guarded against a wedged DB: for tests and
// tools.
func (d *DB) NewWriteBatch() *badger.WriteBatch { return d.bdb.NewWriteBatch() }

// MaxBatchSize is the most bytes one transaction may hold.
func (d *DB) MaxBatchSize() int64 { return d.bdb.MaxBatchSize() }

// MaxBatchCount is the most entries one transaction may hold.
func (d *DB) MaxBatchCount() int64 { return d.bdb.MaxBatchCount() }
