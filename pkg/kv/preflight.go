package kv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// preflight reads, in the caller's goroutine, the files Badger's Open would
// read in its own: Badger opens tables in parallel goroutines, where the
// panic of a zeroed or truncated table (badger#1846, #1883: "Recovering from
// initIndex crash") kills the process and cannot be recovered. It also
// catches damage Badger would accept silently:
//
//   - no MANIFEST next to data files: Badger starts an empty store and
//     deletes every table it finds;
//   - a table failing its checksums: Badger skips it with a log line;
//   - a log entry header claiming more bytes than its file holds: Badger
//     allocates what it claims (up to 4 GiB) before noticing.
//
// It returns a *CorruptError for damage, any other error for I/O failures.
// One repair is made in place: a log file whose replay would end in such an
// absurd entry is truncated there, exactly where Badger's replay ends.
//
// It returns what Open needs to know of the files (found).
func preflight(dir string, p Profile, log *slog.Logger) (f found, err error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return found{}, nil
	}
	if err != nil {
		return found{}, err
	}
	var manifest bool
	var tables, mems, vlogs []uint64
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == badger.ManifestFilename:
			manifest = true
		case strings.HasSuffix(name, ".sst"):
			if id, ok := table.ParseFileID(name); ok {
				tables = append(tables, id)
			}
		case strings.HasSuffix(name, ".mem"):
			id, err := strconv.ParseUint(strings.TrimSuffix(name, ".mem"), 10, 32)
			if err != nil {
				break
			}
			// A process killed right after creating a memtable's log
			// leaves it empty: Badger refuses to reopen an empty one
			// ("Create a new file") though it holds nothing. Removing it
			// loses nothing, so the store opens instead of crash-looping.
			if fi, err := e.Info(); err == nil && fi.Size() == 0 {
				if err := os.Remove(filepath.Join(dir, name)); err != nil {
					return found{}, err
				}
				log.Warn("removed an empty memtable log left by an interrupted start", "file", name)
				break
			}
			mems = append(mems, id)
		case strings.HasSuffix(name, ".vlog"):
			id, err := strconv.ParseUint(strings.TrimSuffix(name, ".vlog"), 10, 32)
			if err != nil {
				break
			}
			// Badger deletes a value-log file by truncating it to zero and
			// then unlinking it, and at every open it deletes the previous
			// file if it holds only its header. A power cut between the two
			// leaves an empty file, which Badger refuses to open. A value
			// log without even its header holds no value anything points
			// to (values are synced before the entries that point to
			// them), so removing it loses nothing. Found by the power-cut
			// harness's task run.
			if fi, err := e.Info(); err == nil && fi.Size() == 0 {
				if err := os.Remove(filepath.Join(dir, name)); err != nil {
					return found{}, err
				}
				log.Warn("removed an empty value-log file left by an interrupted deletion", "file", name)
				break
			}
			vlogs = append(vlogs, id)
		}
	}
	if !manifest {
		if len(tables)+len(mems)+len(vlogs) > 0 {
			return found{}, corrupt(dir, "MANIFEST is missing but %d tables and %d log files are present",
				len(tables), len(mems)+len(vlogs))
		}
		return found{}, nil
	}
	if err := checkKeyRegistry(dir, log); err != nil {
		return found{}, err
	}
	listed, newest, err := checkTables(dir, p, log)
	if err != nil {
		return found{}, err
	}
	walScans, err := checkLogs(dir, mems, "%05d.mem", false, nil, log)
	if err != nil {
		return found{}, err
	}
	if err := checkUnlisted(dir, tables, listed, newest, walScans, log); err != nil {
		return found{}, err
	}
	f.l0 = len(mems)
	for _, tm := range listed {
		if tm.Level == 0 {
			f.l0++
		}
	}
	known := readVerified(dir, log)
	vlogScans, err := checkLogs(dir, vlogs, "%06d.vlog", true, known, log)
	if err != nil {
		return found{}, err
	}
	recordVerified(dir, vlogs, vlogScans, log)
	for _, s := range vlogScans {
		f.valueLog = f.valueLog || s.entries > 0
	}
	return f, nil
}

// found is what the preflight learnt of a store's files.
type found struct {
	// l0 is how many level-0 tables the store will have once Badger's
	// Open has flushed the memtables it replays: the L0 tables listed
	// plus the memtable logs.
	l0 int
	// valueLog: a value-log file holds at least one entry (a file
	// removed as empty, or holding only its header, does not count).
	valueLog bool
}

// recordVerified writes what the preflight found in the value-log files
// that are left (verified.go). Failing to write it only costs a full read
// at the next open.
func recordVerified(dir string, ids []uint64, scans []logScan, log *slog.Logger) {
	m := make(map[uint64]verifiedLog, len(ids))
	var read, skipped int
	var bytes int64
	for i, id := range ids {
		fi, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%06d.vlog", id)))
		if err != nil {
			continue // removed as an empty file with a torn header
		}
		m[id] = verifiedLog{stamp: fileStamp(fi), entries: scans[i].entries > 0}
		if scans[i].recorded {
			skipped++
		} else {
			read++
			bytes += scans[i].end
		}
	}
	slices.Sort(ids)
	if err := writeVerified(dir, encodeVerified(ids, m)); err != nil {
		log.Warn("value-log record not written; the next open reads every value-log file", "err", err)
	}
	log.Debug("value-log files checked", "read", read, "read_bytes", bytes, "unchanged_since_read", skipped)
}

// checkTables replays the MANIFEST and opens every table it lists. It
// returns the tables listed and the newest version they hold.
func checkTables(dir string, p Profile, log *slog.Logger) (map[uint64]badger.TableManifest, uint64, error) {
	path := filepath.Join(dir, badger.ManifestFilename)
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	m, end, err := replayManifest(f, p.badgerOptions(dir, log))
	if err != nil {
		if isEnvironmental(err) {
			return nil, 0, err
		}
		return nil, 0, &CorruptError{Path: path, Reason: "MANIFEST cannot be replayed", Err: err}
	}
	if end < st.Size() {
		log.Warn("MANIFEST ends in an incomplete change; Badger drops it", "bytes", st.Size()-end)
	}
	ids := make([]uint64, 0, len(m.Tables))
	for id := range m.Tables {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var newest uint64
	for _, id := range ids {
		v, err := checkTable(table.NewFilename(id, dir), m.Tables[id], p.VerifyOnOpen)
		if err != nil {
			return nil, 0, err
		}
		newest = max(newest, v)
	}
	return m.Tables, newest, nil
}

// checkUnlisted looks at the tables the MANIFEST does not list, which
// Badger deletes when it opens. After a power cut these are the output of
// a flush or compaction whose MANIFEST change was torn: a compaction's
// inputs are still listed, a flush's memtable is still in its WAL. A table
// newer than every listed one whose versions no WAL holds any more was
// committed, and the MANIFEST lost its entry: deleting it would lose data
// silently.
func checkUnlisted(dir string, tables []uint64, listed map[uint64]badger.TableManifest, newest uint64,
	wals []logScan, log *slog.Logger) error {
	walMin := uint64(math.MaxUint64)
	for _, s := range wals {
		if s.entries > 0 {
			walMin = min(walMin, s.minVersion)
		}
	}
	for _, id := range tables {
		if _, ok := listed[id]; ok {
			continue
		}
		path := table.NewFilename(id, dir)
		v, err := checkTable(path, badger.TableManifest{}, false)
		if err != nil {
			// A table written just before a power cut, never listed.
			log.Debug("unlisted table cannot be read; Badger deletes it", "file", path, "err", err)
			continue
		}
		if v > newest && walMin > v {
			return corrupt(path, "table holds versions up to %d, newer than every table the MANIFEST lists (%d) "+
				"and in no WAL: the MANIFEST lost it", v, newest)
		}
		log.Debug("unlisted table of an interrupted flush or compaction; Badger deletes it", "file", path)
	}
	return nil
}

// replayManifest runs Badger's replay with its panics turned into errors.
func replayManifest(f *os.File, opt badger.Options) (m badger.Manifest, end int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return badger.ReplayManifestFile(f, 0, opt)
}

// checkTable opens one table read-only with Badger's own code, recovering
// its panics, and returns the newest version it holds; with verify it
// checks every block's checksum too (the index's is always checked).
func checkTable(path string, tm badger.TableManifest, verify bool) (version uint64, err error) {
	st, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0, corrupt(path, "table listed in the MANIFEST is missing")
	}
	if err != nil {
		return 0, err
	}
	if tm.KeyID != 0 {
		return 0, corrupt(path, "table claims encryption key %d; Tether's stores are not encrypted", tm.KeyID)
	}
	if st.Size() < 16 {
		return 0, corrupt(path, "table is %d bytes long", st.Size())
	}
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil {
		if isEnvironmental(err) {
			return 0, err
		}
		return 0, &CorruptError{Path: path, Reason: "table cannot be mapped", Err: err}
	}
	defer closeMapped(mf)
	defer func() {
		if r := recover(); r != nil {
			err = corrupt(path, "table cannot be read: %v", r)
		}
	}()
	mode := options.NoVerification
	if verify {
		mode = options.OnTableRead
	}
	t, err := table.OpenTable(mf, table.Options{
		ReadOnly:    true,
		BlockSize:   4 << 10,
		ChkMode:     mode,
		Compression: tm.Compression,
	})
	if err != nil {
		if isEnvironmental(err) {
			return 0, err
		}
		return 0, &CorruptError{Path: path, Reason: "table is damaged", Err: err}
	}
	return t.MaxVersion(), nil
}

// closeMapped unmaps mf unless OpenTable already did (it closes the file
// on some of its error paths, not on others).
func closeMapped(mf *z.MmapFile) {
	if _, err := mf.Fd.Stat(); errors.Is(err, os.ErrClosed) {
		return
	}
	_ = mf.Close(-1)
}

// checkLogs scans the log files (ids ascending) of one kind. Only the
// newest file holding entries may end in a torn write: every earlier one
// was synced entry by entry and closed (SyncWrites), and Badger truncates a
// WAL it replayed before it creates the next one. So:
//
//   - intact WAL entries after the point where the replay stops are
//     damage, unless they are one commit's, in the newest WAL (the commit
//     a power cut tore, its pages written in any order);
//   - a WAL that ends inside an entry was cut short: WALs are preallocated
//     and Badger truncates one only where its replay ends. Its last
//     commits are lost, and with them possibly the next seq: a reused seq
//     is worse than a new store.
//   - an entry claiming more bytes than its file holds is cut off where
//     the replay stops anyway, except in an older value log, whose values
//     past it are still referenced: damage.
//
// known (value logs only, may be nil) is what an earlier preflight found
// in each file: a file other than the two newest whose stamp is unchanged
// is taken as read (verified.go).
func checkLogs(dir string, ids []uint64, format string, isVlog bool, known map[uint64]verifiedLog,
	log *slog.Logger) ([]logScan, error) {
	slices.Sort(ids)
	scans := make([]logScan, len(ids))
	newest := -1
	for i, id := range ids {
		path := filepath.Join(dir, fmt.Sprintf(format, id))
		if s, ok := unchanged(path, known[id], i < len(ids)-2); ok {
			scans[i] = s
			if s.entries > 0 {
				newest = i
			}
			continue
		}
		s, err := scanLog(path, !isVlog)
		if err != nil {
			return nil, err
		}
		scans[i] = s
		if s.entries > 0 {
			newest = i
		}
	}
	for i, id := range ids {
		s, path := scans[i], filepath.Join(dir, fmt.Sprintf(format, id))
		switch {
		case s.keyID != 0 && s.entries == 0 && i >= newest:
			// A file created just before a power cut, its header torn.
			log.Warn("removing an empty log file with a damaged header", "file", path)
			if err := os.Remove(path); err != nil {
				return nil, err
			}
			if err := syncDir(dir); err != nil {
				return nil, err
			}
		case s.keyID != 0:
			return nil, corrupt(path, "log file claims encryption key %d", s.keyID)
		case s.absurd && isVlog && i < newest:
			return nil, corrupt(path, "value-log entry at offset %d claims more bytes than the file holds", s.end)
		case !isVlog && s.cut:
			return nil, corrupt(path, "WAL cut inside an entry at offset %d of %d: its last commits are lost", s.end, s.size)
		case !isVlog && (s.laterCommits > 1 || s.laterCommits > 0 && i < newest):
			// Badger's replay would stop at the damage and drop the
			// committed entries behind it without a word.
			return nil, corrupt(path, "WAL damaged at offset %d: entries of %d commits follow", s.end, s.laterCommits)
		case s.absurd:
			level := slog.LevelWarn
			if i < newest {
				level = slog.LevelError
			}
			log.Log(context.Background(), level, "log file ends in a damaged entry; cutting it off where Badger's replay stops",
				"file", path, "offset", s.end, "size", s.size, "newest", i >= newest)
			if err := truncateFile(path, s.end); err != nil {
				return nil, err
			}
		}
	}
	return scans, nil
}

// unchanged returns the scan an earlier preflight made of the file at path
// if the file may be taken as read: old enough (never written again) and
// its stamp the one recorded then.
func unchanged(path string, v verifiedLog, old bool) (logScan, bool) {
	if !old || v.stamp == "" {
		return logScan{}, false
	}
	fi, err := os.Stat(path)
	if err != nil || fileStamp(fi) != v.stamp {
		return logScan{}, false
	}
	s := logScan{size: fi.Size(), end: fi.Size(), recorded: true}
	if v.entries {
		s.entries = 1
	}
	return s, true
}

func truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// A key registry without encryption keys is 28 bytes: a 16-byte IV and the
// sanity text (badger key_registry.go WriteKeyRegistry).
const (
	keyRegistrySize   = 28
	keyRegistrySanity = "Hello Badger"
)

// checkKeyRegistry replaces a damaged key registry. It holds only
// encryption keys, which Tether does not use (checkTables and checkLogs
// refuse files that claim one), so a fresh one loses nothing; Badger's
// reader would allocate whatever length a damaged one claims.
func checkKeyRegistry(dir string, log *slog.Logger) error {
	path := filepath.Join(dir, badger.KeyRegistryFileName)
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(b) == keyRegistrySize && string(b[16:]) == keyRegistrySanity {
		return nil
	}
	log.Warn("the key registry is damaged; replacing it (it holds no keys: the store is not encrypted)",
		"file", path, "size", len(b))
	if err := os.Remove(path); err != nil {
		return err
	}
	return syncDir(dir)
}
