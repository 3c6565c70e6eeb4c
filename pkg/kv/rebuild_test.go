package kv

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestValueLogInUse: a store with a value of ValueThreshold or more has an
// entry in its value log, and says so at its next open, garbage or not; a
// store of small values, and a fresh one, do not.
func TestValueLogInUse(t *testing.T) {
	p := testProfile()
	for _, tc := range []struct {
		name string
		size int
		want bool
	}{
		{"fresh", 0, false},
		{"small values", int(p.ValueThreshold) - 100, false},
		{"large values", int(p.ValueThreshold), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "db")
			db, _ := mustOpen(t, dir, p)
			if tc.size > 0 {
				fill(t, db, 0, 10, tc.size, 5)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db, _ = mustOpen(t, dir, p)
			if got := db.ValueLogInUse(); got != tc.want {
				t.Fatalf("ValueLogInUse() = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRebuildReplacesTheStore: Rebuild hands Build a fresh store beside
// the old one and returns it, opened, in the old one's place; nothing of
// the old store's files is left, and a failing Build or Check leaves the
// old store as it was.
func TestRebuildReplacesTheStore(t *testing.T) {
	p := testProfile()
	dir := filepath.Join(t.TempDir(), "db")
	db, _ := mustOpen(t, dir, p)
	want := fill(t, db, 0, 50, int(p.ValueThreshold)+10, 10)
	copyAll := func(dst *DB) error {
		return db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				// Half the size: below the threshold, out of the value log.
				if err := dst.Update(func(w *badger.Txn) error { return w.Set(it.Item().KeyCopy(nil), v[:len(v)/2]) }); err != nil {
					return err
				}
			}
			return nil
		})
	}
	boom := errors.New("boom")
	for _, r := range []Rebuild{
		{Build: func(*DB) error { return boom }},
		{Build: copyAll, Check: func(*badger.DB) error { return boom }},
	} {
		got, err := db.Rebuild(r)
		if !errors.Is(err, boom) || got != db {
			t.Fatalf("Rebuild = %p, %v; want the old DB (%p) and the error", got, err, db)
		}
		if exists(dir + rebuildSuffix) {
			t.Fatal("a failed rebuild left its directory")
		}
	}
	verify(t, db.bdb, want)

	var steps []string
	ndb, err := db.Rebuild(Rebuild{Build: copyAll, Hook: func(s string) { steps = append(steps, s) }})
	if err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	t.Cleanup(func() { _ = ndb.Close() })
	if len(steps) != 4 || ndb.ValueLogInUse() || exists(dir+rebuildSuffix) || exists(dir+retiredSuffix) {
		t.Fatalf("steps %v, value log in use %v, rebuild dir left %v, old dir left %v",
			steps, ndb.ValueLogInUse(), exists(dir+rebuildSuffix), exists(dir+retiredSuffix))
	}
	for k, v := range want {
		want[k] = v[:len(v)/2]
	}
	verify(t, ndb.bdb, want)
}

// TestRebuildPostponedAfterUnfinishedAttempts: after maxRebuildAttempts
// rebuilds in a row that never returned in this boot, Rebuild does
// nothing until the next boot.
func TestRebuildPostponedAfterUnfinishedAttempts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	log := testenv.Logger(t, slog.LevelWarn)
	db, _, err := openChecked(dir, testProfile(), log, nil, "boot-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeCount(filepath.Join(dir, rebuildMarker), maxRebuildAttempts, "boot-1"); err != nil {
		t.Fatal(err)
	}
	built := false
	got, err := db.Rebuild(Rebuild{Build: func(*DB) error { built = true; return nil }})
	if !errors.Is(err, ErrRebuildPostponed) || got != db || built {
		t.Fatalf("Rebuild = %v (built %v); want ErrRebuildPostponed and nothing built", err, built)
	}
	_ = db.Close()

	db, _, err = openChecked(dir, testProfile(), log, nil, "boot-2")
	if err != nil {
		t.Fatal(err)
	}
	got, err = db.Rebuild(Rebuild{Build: func(*DB) error { built = true; return nil }})
	if err != nil || !built {
		t.Fatalf("Rebuild in the next boot = %v (built %v)", err, built)
	}
	_ = got.Close()
}

// TestFinishRebuild: whatever a cut between two steps of a rebuild left,
// Open finds the old store or the rebuilt one whole, and nothing beside.
func TestFinishRebuild(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		dir, rebuild, retire bool
		want                 string // which store dir holds afterwards
	}{
		{"building", true, true, false, "old"},
		{"between the renames", false, true, true, "new"},
		{"after the swap", true, false, true, "new"},
		{"nothing to do", true, false, false, "old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "db")
			mark := func(path, which string) {
				if err := os.MkdirAll(path, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(path, "which"), []byte(which), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tc.dir {
				mark(dir, map[bool]string{true: "new", false: "old"}[tc.retire])
			}
			if tc.rebuild {
				mark(dir+rebuildSuffix, "new")
			}
			if tc.retire {
				mark(dir+retiredSuffix, "old")
			}
			if err := finishRebuild(dir, testenv.Logger(t, slog.LevelWarn)); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "which"))
			if err != nil || string(b) != tc.want {
				t.Fatalf("dir holds %q (%v), want the %s store", b, err, tc.want)
			}
			if exists(dir+rebuildSuffix) || exists(dir+retiredSuffix) {
				t.Fatal("a rebuild's directory left beside the store")
			}
		})
	}
}
