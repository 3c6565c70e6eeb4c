package kv

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/tether-edge/tether/pkg/testenv"
)

// template is a closed store with several tables and two value-log files
// (a full, older one and the newest), and a crash image of the same store
// taken while it was open (its WAL not yet flushed).
type template struct {
	closed, crashed string
	want            map[string][]byte
}

var (
	templateOnce sync.Once
	templateDirs template
	templateErr  string
)

func buildTemplate(t *testing.T) template {
	templateOnce.Do(func() {
		root, err := os.MkdirTemp("", "tether-store-template-")
		if err != nil {
			templateErr = err.Error()
			return
		}
		dir := filepath.Join(root, "db")
		db, _, err := Open(dir, testProfile(), nil)
		if err != nil {
			templateErr = err.Error()
			return
		}
		want := fill(t, db, 0, 6000, 300, 200)
		for k, v := range fill(t, db, 6000, 150, 40<<10, 10) {
			want[k] = v
		}
		for k, v := range fill(t, db, 7000, 300, 200, 30) { // in the WAL
			want[k] = v
		}
		crashed := filepath.Join(root, "crashed")
		copyOpen(t, dir, crashed)
		if err := db.Close(); err != nil {
			templateErr = err.Error()
			return
		}
		templateDirs = template{closed: dir, crashed: crashed, want: want}
	})
	if templateErr != "" {
		t.Fatalf("building the template store: %s", templateErr)
	}
	return templateDirs
}

// copyOpen copies an open store once its frozen memtables are flushed, so
// that no file appears or goes away while it copies.
func copyOpen(t *testing.T, src, dst string) {
	testenv.Eventually(t, 10*time.Second, "memtables flushed", func() bool { return len(files(t, src, ".mem")) <= 1 })
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "LOCK" {
			copyFile(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
		}
	}
}

type outcome int

const (
	quarantined outcome = iota // moved aside, a fresh empty store opened
	intact                     // every key reads back
	lastTxnLost                // a torn WAL tail: all but the last transaction
)

func TestCorruption(t *testing.T) {
	tpl := buildTemplate(t)
	for _, tc := range []struct {
		name    string
		crashed bool // start from the crash image
		damage  func(t *testing.T, dir string)
		check   bool // open with a check that reads every value
		want    outcome
	}{
		{name: "manifest emptied", damage: truncate(badger.ManifestFilename, 0), want: quarantined},
		{name: "manifest torn in its magic", damage: truncate(badger.ManifestFilename, 5), want: quarantined},
		{name: "manifest garbage", damage: garbage(badger.ManifestFilename, 0, 4096), want: quarantined},
		{name: "manifest byte flipped", damage: flip(badger.ManifestFilename, 20), want: quarantined},
		{name: "manifest missing", damage: remove(badger.ManifestFilename), want: quarantined},
		// The last change lost: its table is unlisted and its WAL is gone.
		{name: "manifest loses its last change", damage: cutManifestChange, want: quarantined},
		{name: "table zeroed", damage: zeroAll(".sst", 0), want: quarantined},
		{name: "table tail zeroed", damage: zeroTail(".sst", 0, 2726), want: quarantined},
		{name: "table truncated", damage: truncateHalf(".sst", 0), want: quarantined},
		{name: "table emptied", damage: truncateTo(".sst", 1, 0), want: quarantined},
		{name: "table block byte flipped", damage: flipAt(".sst", 0, 100), want: quarantined},
		{name: "older value log cut mid-entry", damage: truncateTo(".vlog", 0, 1<<20+7), want: quarantined},
		{name: "newest value log cut mid-entry", damage: cutNewestVlog, check: true, want: quarantined},
		{name: "value byte flipped", damage: flipAt(".vlog", 0, 1<<20), check: true, want: quarantined},
		{name: "key registry garbage", damage: garbage(badger.KeyRegistryFileName, 0, 64), want: intact},
		{name: "discard statistics garbage", damage: garbage("DISCARD", 0, 1<<20), want: intact},
		{name: "crash image", crashed: true, damage: func(*testing.T, string) {}, want: intact},
		{name: "crash image, absurd entry after the WAL's end", crashed: true, damage: absurdAfterEnd, want: intact},
		{name: "crash image, undecodable entry after the WAL's end", crashed: true, damage: overlongAfterEnd, want: intact},
		{name: "crash image, WAL cut short inside its last entry", crashed: true, damage: tearLastEntry, want: quarantined},
		// A power cut during the last commit's msync: a page in its middle
		// never written, the pages after it written.
		{name: "crash image, last commit missing a page", crashed: true, damage: zeroInCommit(-1), want: lastTxnLost},
		// Damage in the middle: Badger alone would drop every later commit.
		{name: "crash image, WAL damaged before later commits", crashed: true, damage: zeroInCommit(-3), want: quarantined},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tpl.closed
			if tc.crashed {
				src = tpl.crashed
			}
			dir := filepath.Join(t.TempDir(), "db")
			copyDir(t, src, dir)
			tc.damage(t, dir)
			var check func(*badger.DB) error
			if tc.check {
				check = readAllCheck
			}
			db, rec, err := OpenChecked(dir, testProfile(), testenv.Logger(t, slog.LevelWarn), check)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer db.Close()
			switch tc.want {
			case quarantined:
				if rec == nil {
					got, rerr := readAll(db.bdb)
					t.Fatalf("damage not recovered: %d keys, read error %v", len(got), rerr)
				}
				if _, err := os.Stat(rec.MovedTo); err != nil || !strings.Contains(rec.MovedTo, ".corrupt-") {
					t.Errorf("MovedTo %q: %v", rec.MovedTo, err)
				}
				t.Logf("recovered: %s", rec.Reason)
				verify(t, db.bdb, nil)
				fill(t, db, 0, 10, 10, 10) // the fresh store works
			case intact:
				if rec != nil {
					t.Fatalf("recovered (%s); want the data intact", rec.Reason)
				}
				verify(t, db.bdb, tpl.want)
			case lastTxnLost:
				if rec != nil {
					t.Fatalf("recovered (%s); want the data intact", rec.Reason)
				}
				want := make(map[string][]byte, len(tpl.want))
				for k, v := range tpl.want {
					want[k] = v
				}
				for i := 7270; i < 7300; i++ { // fill's last transaction
					delete(want, string(key(i)))
				}
				verify(t, db.bdb, want)
			}
		})
	}
}

// nth returns the i-th file with suffix (negative: from the end).
func nth(t *testing.T, dir, suffix string, i int) string {
	t.Helper()
	fs := files(t, dir, suffix)
	if i < 0 {
		i += len(fs)
	}
	if i < 0 || i >= len(fs) {
		t.Fatalf("no %s file #%d among %v", suffix, i, fs)
	}
	return fs[i]
}

func truncate(name string, size int64) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Truncate(filepath.Join(dir, name), size); err != nil {
			t.Fatal(err)
		}
	}
}

func truncateTo(suffix string, i int, size int64) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Truncate(nth(t, dir, suffix, i), size); err != nil {
			t.Fatal(err)
		}
	}
}

func truncateHalf(suffix string, i int) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		p := nth(t, dir, suffix, i)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, st.Size()/2); err != nil {
			t.Fatal(err)
		}
	}
}

func remove(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// rewrite applies f to the bytes of path.
func rewrite(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

func garbage(name string, off, n int) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		rewrite(t, filepath.Join(dir, name), func(b []byte) []byte {
			for i := off; i < off+n && i < len(b); i++ {
				b[i] = byte(i*131 + 7)
			}
			return b
		})
	}
}

func flip(name string, off int) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		rewrite(t, filepath.Join(dir, name), func(b []byte) []byte { b[off] ^= 0x5a; return b })
	}
}

func flipAt(suffix string, i, off int) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		rewrite(t, nth(t, dir, suffix, i), func(b []byte) []byte { b[off] ^= 0x5a; return b })
	}
}

func zeroAll(suffix string, i int) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		rewrite(t, nth(t, dir, suffix, i), func(b []byte) []byte { clear(b); return b })
	}
}

func zeroTail(suffix string, i, n int) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		rewrite(t, nth(t, dir, suffix, i), func(b []byte) []byte { clear(b[len(b)-n:]); return b })
	}
}

// cutNewestVlog cuts the newest value log holding values in the middle of
// an entry: values still referenced by the tables are lost.
func cutNewestVlog(t *testing.T, dir string) {
	for _, p := range slicesReverse(files(t, dir, ".vlog")) {
		s, err := scanLog(p, true)
		if err != nil {
			t.Fatal(err)
		}
		if s.entries > 1 {
			if err := os.Truncate(p, s.end-100); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("no value log with entries")
}

// absurdAfterEnd writes an entry header claiming 2 GiB right where the
// newest WAL's replay ends: Badger alone would try to allocate it.
func absurdAfterEnd(t *testing.T, dir string) {
	p := nth(t, dir, ".mem", -1)
	s, err := scanLog(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if s.entries == 0 {
		t.Fatal("the WAL of the crash image is empty")
	}
	rewrite(t, p, func(b []byte) []byte {
		h := []byte{0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0x07, 0}
		copy(b[s.end:], h)
		return b
	})
	if s2, _ := scanLog(p, true); !s2.absurd {
		t.Fatal("damage not seen as absurd")
	}
}

// tearLastEntry cuts the newest WAL inside its last entry: not what a power
// cut does (WALs are preallocated), but what a damaged file system can.
func tearLastEntry(t *testing.T, dir string) {
	p := nth(t, dir, ".mem", -1)
	s, err := scanLog(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, s.end-3); err != nil {
		t.Fatal(err)
	}
}

func slicesReverse(s []string) []string {
	r := make([]string, len(s))
	for i, v := range s {
		r[len(s)-1-i] = v
	}
	return r
}

// A readable value is never a wrong one.
func assertNoWrongValues(t *testing.T, db *badger.DB, want map[string][]byte) (missing, unreadable int) {
	t.Helper()
	err := db.View(func(txn *badger.Txn) error {
		for k, v := range want {
			item, err := txn.Get([]byte(k))
			if err == badger.ErrKeyNotFound {
				missing++
				continue
			}
			if err != nil {
				unreadable++
				continue
			}
			got, err := item.ValueCopy(nil)
			if err != nil || len(got) == 0 {
				// Badger returns an empty value, not an error, when it
				// cannot read one from the value log.
				unreadable++
				continue
			}
			if !bytes.Equal(got, v) {
				t.Errorf("key %s reads back wrong bytes", k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return missing, unreadable
}

// cutManifestChange cuts the MANIFEST inside its last change set, as a torn
// append would, after the change had been committed (its WAL deleted).
func cutManifestChange(t *testing.T, dir string) {
	p := filepath.Join(dir, badger.ManifestFilename)
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(files(t, dir, ".sst")) < 2 {
		t.Fatal("the template has fewer than two tables")
	}
	if err := os.Truncate(p, st.Size()-3); err != nil {
		t.Fatal(err)
	}
}

// An unlisted table is the leftover of a torn flush, not damage, while a
// WAL still holds versions it holds: Badger deletes it and replays the WAL.
func TestUnlistedTableRule(t *testing.T) {
	tpl := buildTemplate(t)
	dir := filepath.Join(t.TempDir(), "db")
	copyDir(t, tpl.closed, dir)
	cutManifestChange(t, dir)
	listed, newest, err := checkTables(dir, testProfile(), testenv.Logger(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, p := range files(t, dir, ".sst") {
		id, _ := table.ParseFileID(p)
		ids = append(ids, id)
	}
	unlisted, err := checkTable(table.NewFilename(ids[len(ids)-1], dir), badger.TableManifest{}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		wals    []logScan
		corrupt bool
	}{
		{"no WAL", nil, true},
		{"an empty WAL", []logScan{{}}, true},
		{"a WAL of later versions only", []logScan{{entries: 3, minVersion: unlisted + 1, maxVersion: unlisted + 9}}, true},
		{"the flushed memtable's WAL", []logScan{{entries: 3, minVersion: newest + 1, maxVersion: unlisted}}, false},
	} {
		err := checkUnlisted(dir, ids, listed, newest, tc.wals, testenv.Logger(t, slog.LevelWarn))
		var ce *CorruptError
		if got := errors.As(err, &ce); got != tc.corrupt {
			t.Errorf("%s: checkUnlisted = %v, want damage %v", tc.name, err, tc.corrupt)
		}
	}
}

// zeroInCommit zeroes 64 bytes inside the first entry of the commit nth
// from the end (-1: the last) of the newest WAL.
func zeroInCommit(fromEnd int) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		p := nth(t, dir, ".mem", -1)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var starts []int // offset of each commit's first entry
		var last uint64
		for off := logHeaderSize; off < len(b); {
			n, v, ok := entryAt(b[off:])
			if !ok {
				break
			}
			if v != last {
				starts, last = append(starts, off), v
			}
			off += n
		}
		if len(starts) < -fromEnd {
			t.Fatalf("the WAL holds %d commits", len(starts))
		}
		off := starts[len(starts)+fromEnd] + 16
		clear(b[off : off+64])
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// overlongAfterEnd writes an entry header whose key length is an overlong
// varint where the newest WAL's replay ends: Badger's replay would fail
// and the store not open.
func overlongAfterEnd(t *testing.T, dir string) {
	p := nth(t, dir, ".mem", -1)
	s, err := scanLog(p, true)
	if err != nil {
		t.Fatal(err)
	}
	rewrite(t, p, func(b []byte) []byte {
		copy(b[s.end:], []byte{0, 0, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0xb3, 0x01})
		return b
	})
	if s2, _ := scanLog(p, true); !s2.absurd {
		t.Fatal("damage not seen")
	}
}
