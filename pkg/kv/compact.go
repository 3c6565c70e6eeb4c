package kv

import (
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Compaction on demand (Profile.CompactDelay, with NumCompactors 0).
//
// Badger's own compactors each wake every 50 ms whether or not there is
// work (levels.go runCompactor: a fixed ticker that no option changes), so
// two of them wake an idle process 40 times a second; on the agent that
// was most of its CPU. A tree only needs compacting after a memtable flush
// added an L0 table, and flushes only follow writes. So the DB compacts by
// itself instead, in one goroutine it owns:
//
//	open ──► wait CompactDelay ──► look ──► due? Flatten ──► sleep until a
//	              ▲                                          write is signalled
//	              └──────────────────────────────────────────────┘
//
// "Due" is Badger's own test: a level scores at least 1 (L0 holds
// NumLevelZeroTables tables, or a level outgrew its target); LevelInfo
// carries the score only then. Flatten compacts L0 into the base level and
// every level into the last one: the tree a device keeps is a few MiB and
// its L0 tables span the whole key space (the meta keys are rewritten with
// every commit), so the tables Badger's leveled compaction would rewrite
// are about the same. Writes are signalled by Wrote (Update does it); a
// signal during a compaction makes the compactor look again after it.
//
// Writes stall when L0 holds NumLevelZeroTablesStall tables. That cannot
// last: each of those tables is a memtable that a signalled write rotated,
// and the compactor looks at most CompactDelay after every signal,
// compacting every table present, including those that land while it
// works. A write that is never signalled leaves its table in L0 until the
// next signal (or the next open, which looks once): reads stay correct,
// only a little slower.

// Wrote tells the DB that a write transaction committed outside Update (a
// Txn's Commit, a WriteBatch's Flush). With compaction on demand the tree
// is looked at CompactDelay later. It never blocks.
func (d *DB) Wrote() {
	select {
	case d.wrote <- struct{}{}:
	default: // a look is already due
	}
}

// Update is Badger's Update, followed by Wrote; on a wedged DB it
// returns ErrWedged without running fn.
func (d *DB) Update(fn func(txn *badger.Txn) error) error {
	if err := d.wedgedErr(); err != nil {
		return err
	}
	err := d.bdb.Update(fn)
	d.Wrote()
	return d.noteWrite(err)
}

// Flatten is Badger's Flatten (every level compacted into one),
// serialised with the DB's own compactions: two at once would compete
// for the same tables and fail.
func (d *DB) Flatten(workers int) error {
	d.compactMu.Lock()
	defer d.compactMu.Unlock()
	return d.bdb.Flatten(workers)
}

// CompactStats counts the compactor's work since Open.
type CompactStats struct {
	Looks       uint64 // times it looked at the tree
	Compactions uint64 // Flattens it ran
}

// CompactStats returns the compactor's counters (zero without compaction
// on demand).
func (d *DB) CompactStats() CompactStats {
	return CompactStats{Looks: d.looks.Load(), Compactions: d.compactions.Load()}
}

// compactor is the goroutine of compaction on demand; Close stops it and
// waits for a compaction in progress to end. A panic inside Badger's
// compaction (a damaged table) ends it: the error goes to Run, and the
// next Open's preflight checks the tables.
func (d *DB) compactor() {
	defer d.runs.Done()
	// The first look: what the last run left, at once when it is due
	// (processes killed before their first look pile tables up in L0).
	first := d.profile.CompactDelay
	if compactionDue(d.bdb.Levels()) {
		first = 0
	}
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		if err := d.compactIfDue(); err != nil {
			d.log.Error("compaction failed; compacting stops until the store is opened again", "err", err)
			select {
			case d.fault <- err:
			default:
			}
			return
		}
		select {
		case <-d.stop:
			return
		case <-d.wrote:
		}
		t.Reset(d.profile.CompactDelay)
	}
}

type compactPanic struct{ v any }

func (p *compactPanic) Error() string { return fmt.Sprintf("compaction panicked: %v", p.v) }

// compactIfDue flattens the tree when a level is over its target. An
// error Flatten returns (it found no tables to compact: the tree changed
// under it) is logged; only a panic is returned.
func (d *DB) compactIfDue() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &compactPanic{v: r}
		}
	}()
	d.looks.Add(1)
	if !compactionDue(d.bdb.Levels()) {
		return nil
	}
	start := time.Now()
	if err := d.Flatten(1); err != nil {
		d.log.Warn("compaction failed; retried after the next write", "err", err)
		return nil
	}
	d.compactions.Add(1)
	d.log.Debug("tree compacted", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// compactionDue applies Badger's test: LevelInfo carries a score only for
// the levels its compactors would pick, those scoring at least 1.
func compactionDue(levels []badger.LevelInfo) bool {
	for _, l := range levels {
		if l.Score >= 1 {
			return true
		}
	}
	return false
}
