package kv

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/testenv"
)

func l0Tables(db *DB) int { return db.bdb.Levels()[0].NumTables }

// Writes well past the L0 stall finish, because the compactor drains L0
// after signalled writes; afterwards no level is over its target and every
// key reads back.
func TestCompactionOnDemandKeepsWritesGoing(t *testing.T) {
	p := testProfile()
	p.CompactDelay = 10 * time.Millisecond
	p.NumLevelZeroTables, p.NumLevelZeroTablesStall = 2, 3 // a stall after three flushes
	db, _ := mustOpen(t, filepath.Join(t.TempDir(), "db"), p)
	done := make(chan map[string][]byte, 1)
	go func() { done <- fill(t, db, 0, 30000, 300, 100) }() // ~10 MiB: ten memtables
	var want map[string][]byte
	select {
	case want = <-done:
	case <-time.After(2 * time.Minute):
		l0, st := l0Tables(db), db.CompactStats()
		_ = db.Flatten(1) // unstall the writer, so the test can end and close the store
		<-done
		t.Fatalf("writes stalled: L0 held %d tables, compactor %+v", l0, st)
	}
	testenv.Eventually(t, 30*time.Second, "the tree compacted", func() bool { return !compactionDue(db.bdb.Levels()) })
	if st := db.CompactStats(); st.Compactions == 0 {
		t.Fatalf("no compaction ran: %+v", st)
	}
	verify(t, db.bdb, want)
}

// With nothing written, the compactor looks once after Open and then
// sleeps; a signalled write wakes it once.
func TestCompactorSleepsWhileIdle(t *testing.T) {
	p := testProfile()
	p.CompactDelay = 5 * time.Millisecond
	db, _ := mustOpen(t, filepath.Join(t.TempDir(), "db"), p)
	testenv.Eventually(t, 30*time.Second, "the first look", func() bool { return db.CompactStats().Looks == 1 })
	time.Sleep(40 * p.CompactDelay) // kept: the idle time in which it must not look again
	if st := db.CompactStats(); st.Looks != 1 {
		t.Fatalf("looked %d times in %v with nothing written; want 1", st.Looks, 40*p.CompactDelay)
	}
	fill(t, db, 0, 1, 10, 1)
	testenv.Eventually(t, 30*time.Second, "a look after the write", func() bool { return db.CompactStats().Looks == 2 })
	time.Sleep(40 * p.CompactDelay) // kept: as above
	if st := db.CompactStats(); st.Looks != 2 {
		t.Fatalf("looked %d times after one write; want 2", st.Looks)
	}
}

// Tables left in L0 by the previous run are compacted after the next Open,
// without a write.
func TestCompactorLooksAfterOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	p := testProfile()
	p.CompactDelay = time.Hour // never during the first run
	db, _, err := Open(dir, p, testenv.Logger(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	want := fill(t, db, 0, 12000, 300, 100) // ~4 MiB: four memtables
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	p.CompactDelay = 5 * time.Millisecond
	db, _ = mustOpen(t, dir, p)
	if n := l0Tables(db); n < p.NumLevelZeroTables {
		t.Fatalf("L0 holds %d tables after the first run; the test needs at least %d", n, p.NumLevelZeroTables)
	}
	testenv.Eventually(t, 30*time.Second, "L0 compacted", func() bool { return db.CompactStats().Compactions == 1 })
	if n := l0Tables(db); n >= p.NumLevelZeroTables {
		t.Fatalf("L0 holds %d tables after the compaction", n)
	}
	verify(t, db.bdb, want)
}

func TestCompactionSettingsValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Profile)
		error string
	}{
		{"none", func(p *Profile) { p.NumCompactors, p.CompactDelay = 0, 0 }, "nothing would compact"},
		{"both", func(p *Profile) { p.NumCompactors, p.CompactDelay = 2, time.Second }, "compete"},
		{"negative", func(p *Profile) { p.CompactDelay = -time.Second }, "CompactDelay"},
	} {
		p := Device()
		tc.edit(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tc.error) {
			t.Errorf("%s: Validate = %v; want it to say %q", tc.name, err, tc.error)
		}
	}
	if err := Server().Validate(); err != nil {
		t.Errorf("server profile: %v", err)
	}
}
