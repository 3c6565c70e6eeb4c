package kv

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// ErrClosed is returned by a DB's methods after Close.
var ErrClosed = errors.New("store is closed")

// DB is an open Badger store. It serves reads and writes through the few
// Badger calls below and keeps Badger itself unexported, so no caller can
// close it, collect its value log or drop its data behind the DB's back
// (Close waits for the compactor and GC; CollectGarbage and Flatten are
// serialised with them). Every write transaction is durable when Commit
// returns (SyncWrites): group writes into few transactions.
type DB struct {
	bdb     *badger.DB
	dir     string
	profile Profile
	log     *slog.Logger

	mu     sync.Mutex // guards closed, and runs.Add against Close's Wait
	closed bool
	stop   chan struct{}  // closed by Close
	runs   sync.WaitGroup // the compactor, and Run and CollectGarbage calls in progress
	passes atomic.Uint64  // collections Run began since Open: what shows a Run running

	// Compaction on demand (compact.go).
	wrote       chan struct{} // 1 slot: a write was signalled since the compactor last looked
	fault       chan error    // 1 slot: why the compactor stopped, for Run
	compactMu   sync.Mutex    // serialises Flatten
	looks       atomic.Uint64
	compactions atomic.Uint64

	wedged atomic.Pointer[error] // set once: why writes are refused (wedge.go)

	valueLog bool         // a value-log file held an entry when the store was opened
	boot     string       // the boot id it was opened in
	openLog  *slog.Logger // the logger Open was given, for Rebuild's opens
}

// Recovery describes a damaged store that Open moved aside before starting
// a fresh one: the agent logs it and reports it to the scheduler.
type Recovery struct {
	Reason  string    // what was wrong, for people
	MovedTo string    // where the damaged store is kept; "" when none are kept
	At      time.Time // UTC
}

// Open opens (or creates) the Badger store in dir with profile p, logging
// to log (nil: discard). It never crash-loops on a damaged store:
//
//   - damage found before or by Badger's Open — a torn or garbage MANIFEST,
//     a zeroed or truncated table, a checksum mismatch, a panic inside
//     Open — moves dir aside to <dir>.corrupt-<UTC time>, opens a fresh
//     store and returns a non-nil *Recovery with the DB;
//   - a store whose last p.MaxIncompleteOpens opens in this boot never
//     returned is opened in a child process first (probe.go, ServeProbe),
//     and moved aside the same way only if that child crashed inside Open
//     (a fault Go cannot recover from); a process killed inside Open,
//     however often, never loses its store;
//   - conditions of the machine — permission denied, a read-only or full
//     disk, the directory locked by another process, mmap failing for lack
//     of address space — are returned as errors, the data left untouched;
//     so are errors not recognised as damage.
//
// Only p.KeepQuarantined damaged stores are kept, newest first.
func Open(dir string, p Profile, log *slog.Logger) (*DB, *Recovery, error) {
	return OpenChecked(dir, p, log, nil)
}

// OpenChecked is Open with a check of the data itself, run after Badger
// opened the store: a *CorruptError from check (or a panic in it) moves
// the store aside like damaged files; any other error is returned.
func OpenChecked(dir string, p Profile, log *slog.Logger, check func(*badger.DB) error) (*DB, *Recovery, error) {
	return openChecked(dir, p, log, check, readBootID())
}

// openChecked is OpenChecked during the given boot.
func openChecked(dir string, p Profile, log *slog.Logger, check func(*badger.DB) error, boot string) (*DB, *Recovery, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	if dir == "" {
		return nil, nil, errors.New("store directory not set")
	}
	openLog := log
	log = log.With("component", "store", "dir", dir)
	// Before dir is made: a rebuild cut between its renames leaves no dir.
	if err := finishRebuild(dir, log); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("store directory: %w", err)
	}
	unfinished, err := readMarker(dir, boot)
	if err != nil {
		return nil, nil, fmt.Errorf("store open marker: %w", err)
	}
	var reason string
	if unfinished >= p.MaxIncompleteOpens {
		switch verdict, detail := probeOpen(dir, p); verdict {
		case probeCrashed:
			reason = fmt.Sprintf("the last %d attempts to open the store never finished, and opening it in a separate process crashed that process: %s", unfinished, detail)
		case probeOpened:
			log.Warn("store opened in a separate process after opens that never finished: the process was killed inside Open, not crashing there",
				"unfinished", unfinished)
			unfinished = 0
		default:
			log.Warn("opens that never finished, and no probe to tell a crash from a kill: opening the store again",
				"unfinished", unfinished, "why", detail)
		}
	}
	if reason == "" {
		if err := writeMarker(dir, unfinished+1, boot); err != nil {
			return nil, nil, fmt.Errorf("store open marker: %w", err)
		}
		bdb, f, err := tryOpen(dir, p, log, check)
		if err == nil {
			if err := writeMarker(dir, 0, boot); err != nil {
				_ = bdb.Close()
				return nil, nil, fmt.Errorf("store open marker: %w", err)
			}
			db := newDB(bdb, dir, p, log, f, boot)
			db.openLog = openLog
			return db, nil, nil
		}
		if !isCorruption(err) {
			_ = writeMarker(dir, unfinished, boot)
			return nil, nil, fmt.Errorf("opening store %s: %w", dir, err)
		}
		reason = err.Error()
	}
	rec, err := quarantine(dir, p.KeepQuarantined, reason, time.Now(), log)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, rec, fmt.Errorf("store directory: %w", err)
	}
	bdb, f, err := tryOpen(dir, p, log, check)
	if err != nil {
		return nil, rec, fmt.Errorf("opening a fresh store in %s after moving the damaged one aside: %w", dir, err)
	}
	db := newDB(bdb, dir, p, log, f, boot)
	db.openLog = openLog
	return db, rec, nil
}

// compactorOff, set only by this package's tests, opens DBs without the
// compactor: what a process killed before the compactor's first look
// leaves, which a test cannot otherwise time (a race-instrumented child
// lives long enough to compact).
var compactorOff bool

func newDB(bdb *badger.DB, dir string, p Profile, log *slog.Logger, f found, boot string) *DB {
	d := &DB{bdb: bdb, dir: dir, profile: p, log: log, stop: make(chan struct{}),
		wrote: make(chan struct{}, 1), fault: make(chan error, 1), valueLog: f.valueLog, boot: boot}
	if p.CompactDelay > 0 && !compactorOff {
		d.runs.Add(1)
		go d.compactor()
	}
	return d
}

// tryOpen runs the preflight, Badger's Open and check, turning their panics
// into errors.
func tryOpen(dir string, p Profile, log *slog.Logger, check func(*badger.DB) error) (db *badger.DB, f found, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError(dir, r)
		}
	}()
	// A fault reading a file through its mmap (a table shorter than its
	// index says, an unreadable sector) panics in the preflight and the
	// check rather than killing the process: both only read. Badger's
	// Open also writes through mmaps, where a fault is a full disk.
	old := debug.SetPanicOnFault(true)
	f, err = preflight(dir, p, log)
	debug.SetPanicOnFault(old)
	if err != nil {
		return nil, f, err
	}
	opt := p.badgerOptions(dir, log)
	// Badger's Open flushes the memtables it replays to level 0 and waits
	// for each flush, which waits while L0 is at NumLevelZeroTablesStall —
	// for a compaction nothing runs during Open (compaction on demand
	// starts after it). Processes killed within CompactDelay of their open
	// leave one more L0 table each, and once they reach the stall every
	// later Open hangs for ever. So this open's stall is above what L0
	// will hold; the compactor compacts it at once (compact.go).
	if need := f.l0 + opt.NumLevelZeroTables + 1; need > opt.NumLevelZeroTablesStall {
		log.Warn("level 0 holds more tables than writes may wait for: allowing them until the first compaction",
			"l0_tables", f.l0, "stall", opt.NumLevelZeroTablesStall)
		opt.NumLevelZeroTablesStall = need
	}
	db, err = badger.Open(opt)
	if err != nil || check == nil {
		return db, f, err
	}
	if err := runCheck(db, check); err != nil {
		_ = db.Close()
		return nil, f, err
	}
	return db, f, nil
}

func runCheck(db *badger.DB, check func(*badger.DB) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptError{Reason: fmt.Sprintf("store check panicked: %v", r)}
		}
	}()
	return check(db)
}

// panicError classifies a recovered panic: out of address space or file
// descriptors is the machine's condition; anything else is damage.
func panicError(dir string, r any) error {
	err := fmt.Errorf("panic while opening: %v", r)
	if isEnvironmental(err) {
		return err
	}
	return &CorruptError{Path: dir, Reason: "panic while opening", Err: err}
}

// Close stops Run and the compactor (after a compaction in progress) and
// closes the store. Every committed write is already
// durable; Close flushes memtables to tables so the next open replays less.
func (d *DB) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.stop)
	d.mu.Unlock()
	d.runs.Wait()
	timeout := d.profile.CloseTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	done := make(chan error, 1)
	go func() { done <- d.bdb.Close() }() // left behind if it never returns: the process is ending
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("store %s: not closed within %v: Badger keeps retrying a write that fails (is the directory gone, or the disk failing?); giving up", d.dir, timeout)
	}
}

// ValueLogInUse reports whether a value-log file held at least one entry
// when the store was opened: a value Badger stored in its value log (at
// least ValueThreshold long), live or garbage. Value-log GC can write a
// deleted one back (docs/durability.md); Rebuild leaves none.
func (d *DB) ValueLogInUse() bool { return d.valueLog }

// Dir returns the store's directory.
func (d *DB) Dir() string { return d.dir }

// Profile returns the profile the store was opened with.
func (d *DB) Profile() Profile { return d.profile }
