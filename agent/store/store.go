package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tether-edge/tether/pkg/kv"
)

// ErrClosed is returned by a Store's methods after Close.
var ErrClosed = errors.New("agent store is closed")

// Store is the agent's durable state: the outbox of messages to the
// scheduler, the task journal and the tasks' checkpoints, in one Badger
// store. Its methods are safe for concurrent use.
//
// Every write goes through one group-commit path (commit.go): writes made
// within CommitInterval of each other share one durable Badger transaction.
type Store struct {
	db      *kv.DB
	blobs   blobs // values too large for Badger's LSM tree: blob.go
	opts    Options
	log     *slog.Logger
	info    Info
	session session // this open's
	age     ageClock
	disk    *diskGuard

	// mu guards the fields below it. Lock order: commitMu, then mu.
	mu       sync.Mutex
	next     uint64 // the next seq Append or Journal hands out
	cur      *batch // the batch taking writes; nil when none
	ix       index
	acks     []uint64 // acknowledged, not yet deleted
	corrupt  []uint64 // unreadable, not yet deleted
	counters counters // as committed
	epoch    uint64   // m/epoch as committed (epoch.go)
	overflow bool     // the last commit left the outbox over its bound
	closed   bool
	leaders  sync.WaitGroup // batches not yet committed

	commitMu sync.Mutex // held by the batch being committed

	lastCommit atomic.Int64 // s.age.now() at the last commit's end: monotonic
	commits    atomic.Uint64
	records    atomic.Uint64

	stop    chan struct{} // closed by Close
	wake    chan struct{} // 1 slot: Run must look at its deadlines again
	wakeups atomic.Uint64 // times Run looked, for tests
	runs    sync.WaitGroup
}

// Open opens the agent's store in dir (creating it), checking everything
// it holds: see docs/durability.md. A damaged store is moved aside and a
// fresh one opened, with a non-nil Recovery the agent reports; the fresh
// store has a new ID, so the scheduler starts a new sequence for it. A
// store written by a newer agent (schema above 1) is refused.
func Open(dir string, o Options) (*Store, *kv.Recovery, error) {
	o.ensureDefaults()
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	bl := blobsFor(dir, o.Profile)
	if o.legacyValues {
		bl.threshold = math.MaxInt
	}
	var ld loaded
	check := func(db *badger.DB) error { // also a migration's new store (migrate.go), in another dir
		var err error
		ld, err = load(db, blobsFor(db.Opts().Dir, o.Profile))
		return err
	}
	db, rec, err := kv.OpenChecked(dir, o.Profile, o.Logger, check)
	if err != nil {
		return nil, rec, err
	}
	log := o.Logger.With("component", "agent-store")
	if db.ValueLogInUse() && !o.legacyValues {
		if db, err = migrate(db, &ld, bl, o, check, log); err != nil {
			return nil, rec, err
		}
	}
	s := &Store{
		db:    db,
		blobs: bl,
		opts:  o,
		log:   log,
		age:   ageClock{start: time.Now(), elapsed: o.elapsed},
		disk:  &diskGuard{dir: dir, reserve: o.DiskReserve, free: o.freeBytes, log: log},
		stop:  make(chan struct{}),
		wake:  make(chan struct{}, 1),
	}
	s.disk.onLow = s.wakeRun // Run looks every DiskPoll until the space is back
	if err := s.start(ld); err != nil {
		_ = db.Close()
		return nil, rec, err
	}
	if db.ValueLogInUse() && !o.legacyValues {
		s.info.ValueLogInUse = true
		s.disk.check() // the health flag says whether the disk is what held it back
	}
	if err := s.finishForgets(ld.forget); err != nil {
		_ = db.Close()
		return nil, rec, err
	}
	if n, err := bl.collectOrphans(ld.blobs); err != nil {
		_ = db.Close()
		return nil, rec, fmt.Errorf("agent store: %w", err)
	} else if n > 0 {
		s.log.Info("blobs nothing refers to removed", "count", n)
	}
	return s, rec, nil
}

// blobsFor is the blob directory of the store in dir opened with p.
func blobsFor(dir string, p kv.Profile) blobs {
	return blobs{dir: filepath.Join(dir, blobDir), threshold: int(p.ValueThreshold)}
}

// start initialises a fresh store, records this session and fills the
// index.
func (s *Store) start(ld loaded) error {
	now := s.opts.Now()
	if ld.fresh {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails on Linux [crypto/rand docs]
		ld.id, ld.next = hex.EncodeToString(b[:]), 1
	}
	sess := session{Opens: ld.session.Opens + 1, BootID: s.opts.BootID, OpenedAt: now}
	counters := ld.counters
	counters.Corrupt += uint64(len(ld.corrupt))
	err := s.db.Update(func(txn *badger.Txn) error {
		if ld.fresh {
			for _, kv := range [][2][]byte{
				{keyVersion, u32Value(schemaVersion)},
				{keyID, []byte(ld.id)},
				{keyNext, u64Value(ld.next)},
			} {
				if err := txn.Set(kv[0], kv[1]); err != nil {
					return err
				}
			}
		}
		for _, seq := range ld.corrupt {
			if err := txn.Delete(outboxKey(seq)); err != nil {
				return err
			}
		}
		if err := txn.Set(keyCounters, counters.encode()); err != nil {
			return err
		}
		return txn.Set(keySession, sess.encode())
	})
	if err != nil {
		return fmt.Errorf("agent store: recording the session: %w", err)
	}
	s.commits.Add(1)
	s.next, s.counters, s.session, s.epoch = ld.next, counters, sess, ld.epoch
	s.info = Info{ID: ld.id, Opens: sess.Opens, PreviousBoot: ld.session.BootID, PreviousClean: ld.session.Clean}
	// A record's age on the monotonic clock: its wall-clock age now,
	// trusted only as far as MaxOutboxAge and never negative.
	ageNow, maxAge := s.age.now(), int64(s.opts.MaxOutboxAge)
	for _, r := range ld.records {
		a := int64(now.Sub(r.created))
		a = min(max(a, 0), maxAge+1)
		s.ix.add(entry{seq: r.seq, at: ageNow - a, size: r.size, kind: r.kind})
	}
	if len(ld.corrupt) > 0 {
		s.log.Error("outbox records could not be read back and were removed", "seqs", ld.corrupt)
	}
	s.lastCommit.Store(s.age.now())
	s.log.Debug("agent store open", "id", ld.id, "next", ld.next, "records", len(ld.records),
		"opens", sess.Opens, "previous_clean", ld.session.Clean)
	return nil
}

// ID returns the store's id: protocol.Header.Store, the scope of its
// sequence numbers.
func (s *Store) ID() string { return s.info.ID }

// Info describes the store and the previous run.
func (s *Store) Info() Info { return s.info }

// LastSeq returns the last sequence number handed out (0 before the
// first): the seq a status message carries (docs/protocol.md).
func (s *Store) LastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next - 1
}

// Commits returns the number of durable commits so far: each is one
// Badger transaction, two fsyncs (the value log's, then the WAL's).
func (s *Store) Commits() uint64 { return s.commits.Load() }

// DB returns the underlying store, for value-log GC and compaction
// (the power-loss workload forces them).
func (s *Store) DB() *kv.DB { return s.db }

// Run collects value-log garbage and commits acknowledgements and age
// limits when no write does, until ctx ends or the store is closed; it
// returns nil then. Run it once, next to the components that write.
//
// It sleeps until the next of these is due, not on a ticker: the
// acknowledgements waiting for a commit, AckInterval after the last one
// (the first acknowledgement after a commit wakes it to set that time),
// and the oldest metrics record reaching MaxOutboxAge (a record committed
// later reaches it later than MaxOutboxAge from now, so with none in the
// outbox Run sleeps that long). A housekeeping commit that leaves work
// due (it failed) is retried after AckInterval.
func (s *Store) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.runs.Add(1)
	s.mu.Unlock()
	defer s.runs.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gc := make(chan error, 1)
	go func() { gc <- s.db.Run(ctx) }()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.wakeups.Add(1)
		wait := s.untilHousekeeping()
		if wait <= 0 {
			if err := s.flush(); err != nil && !errors.Is(err, ErrClosed) {
				s.log.Warn("committing acknowledgements failed", "err", err)
			}
			wait = max(s.untilHousekeeping(), s.opts.AckInterval)
		}
		if s.disk.level.Load() != diskOK {
			s.disk.check()
			wait = min(wait, s.opts.DiskPoll) // until space is back
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return <-gc
		case <-s.stop:
			cancel()
			return <-gc
		case err := <-gc:
			return err
		case <-t.C:
		case <-s.wake:
		}
	}
}

// untilHousekeeping returns how long until acknowledgements have waited
// AckInterval since the last commit, or the oldest metrics record is older
// than MaxOutboxAge, whichever comes first; ≤ 0 when one is due.
func (s *Store) untilHousekeeping() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	wait := s.opts.MaxOutboxAge
	now := s.age.now()
	for _, e := range s.ix.e {
		if e.st == live && e.kind.droppable() {
			wait = time.Duration(e.at+int64(s.opts.MaxOutboxAge)-now) + 1 // due once older, not as old
			break
		}
	}
	if len(s.acks)+len(s.corrupt) > 0 {
		wait = min(wait, s.opts.AckInterval-time.Duration(now-s.lastCommit.Load()))
	}
	return wait
}

// wakeRun makes Run look at its deadlines again. Ack and dropCorrupt call
// it for the first deletion waiting since the last commit (Run knows of
// later ones), a failed commit for those it puts back, the disk guard when
// a write finds the disk below the reserve.
func (s *Store) wakeRun() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close commits pending acknowledgements, marks the session clean and
// closes the store. Appends waiting for their commit get it first; later
// calls get ErrClosed. Run returns.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	s.leaders.Wait()
	s.runs.Wait()
	if s.disk.check() == diskFull {
		// Nothing is written: the session stays unclean, and Badger is
		// left open rather than closed, since closing flushes its
		// memtable through an mmap (SIGBUS on a full disk). What was
		// committed is durable; the next Open replays it.
		s.log.Warn("disk full at close: the store is left as its last commit left it", "free_bytes", s.disk.bytes.Load())
		s.db.Abandon()
		return nil
	}
	err := s.closeSession()
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// closeSession deletes acknowledged records and marks the session clean,
// in a last commit.
func (s *Store) closeSession() error {
	sess := s.session
	sess.Clean = true
	u := &unit{}
	u.set(keySession, sess.encode())
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	return s.commitBatch(&batch{}, u)
}
