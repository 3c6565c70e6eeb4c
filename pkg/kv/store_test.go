package kv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tether-edge/tether/pkg/testenv"
)

func TestOpenCloseReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, rec, err := Open(dir, testProfile(), testenv.Logger(t, slog.LevelWarn))
	if err != nil || rec != nil {
		t.Fatalf("Open = %v, %v", rec, err)
	}
	small := fill(t, db, 0, 2000, 300, 100)
	big := fill(t, db, 2000, 20, 40<<10, 5) // above ValueThreshold: value log
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, markerName)); !os.IsNotExist(err) {
		t.Fatalf("open marker left behind: %v", err)
	}
	for k, v := range big {
		small[k] = v
	}
	db, rec = mustOpen(t, dir, testProfile())
	if rec != nil {
		t.Fatalf("healthy store recovered: %+v", rec)
	}
	verify(t, db.bdb, small)
}

// A crash leaves the WAL unflushed: every committed transaction is replayed.
func TestCrashImageReplays(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, _ := mustOpen(t, dir, testProfile())
	want := fill(t, db, 0, 500, 200, 10)
	for k, v := range fill(t, db, 500, 4, 40<<10, 1) {
		want[k] = v
	}
	crashed := crashCopy(t, dir)
	if len(files(t, crashed, ".mem")) == 0 {
		t.Fatal("no WAL in the crash image")
	}
	db2, rec := mustOpen(t, crashed, testProfile())
	if rec != nil {
		t.Fatalf("crash image recovered: %+v", rec)
	}
	verify(t, db2.bdb, want)
}

func TestOpenLockedIsNotCorruption(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, _ := mustOpen(t, dir, testProfile())
	want := fill(t, db, 0, 100, 100, 100)
	_, rec, err := Open(dir, testProfile(), testenv.Logger(t, slog.LevelWarn))
	if err == nil || rec != nil {
		t.Fatalf("second Open of a locked store = %v, %v; want an error", rec, err)
	}
	if !strings.Contains(err.Error(), "Another process") {
		t.Errorf("error does not say the store is in use: %v", err)
	}
	assertNoQuarantine(t, dir)
	verify(t, db.bdb, want)
}

// A permission error is the machine's condition: returned, data untouched.
func TestPermissionErrorIsNotCorruption(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, _ := mustOpen(t, dir, testProfile())
	want := fill(t, db, 0, 300, 100, 100)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	table := files(t, dir, ".sst")[0]
	if os.Geteuid() == 0 {
		// root ignores file modes; the immutable attribute stops it too.
		chattr := testenv.RequireTool(t, "chattr")
		if out, err := exec.Command(chattr, "+i", table).CombinedOutput(); err != nil {
			t.Skipf("chattr +i not supported here: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command(chattr, "-i", table).Run() })
	} else {
		if err := os.Chmod(table, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(table, 0o600) })
	}
	_, rec, err := Open(dir, testProfile(), testenv.Logger(t, slog.LevelWarn))
	if err == nil || rec != nil {
		t.Fatalf("Open with an unreadable table = %v, %v; want an error", rec, err)
	}
	if !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EACCES) &&
		!strings.Contains(err.Error(), "not permitted") && !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("error is not about permissions: %v", err)
	}
	assertNoQuarantine(t, dir)
	if os.Geteuid() == 0 {
		_ = exec.Command("chattr", "-i", table).Run()
	} else {
		_ = os.Chmod(table, 0o600)
	}
	db, rec = mustOpen(t, dir, testProfile())
	if rec != nil {
		t.Fatalf("store recovered after the permission was fixed: %+v", rec)
	}
	verify(t, db.bdb, want)
}

func TestOpenNotADirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, rec, err := Open(path, testProfile(), testenv.Logger(t, slog.LevelWarn))
	if err == nil || rec != nil {
		t.Fatalf("Open(a file) = %v, %v; want an error", rec, err)
	}
}

func TestIncompleteOpensQuarantine(t *testing.T) {
	p := testProfile()
	dir := filepath.Join(t.TempDir(), "db")
	open := func(boot string) (*DB, *Recovery) {
		t.Helper()
		db, rec, err := openChecked(dir, p, testenv.Logger(t, slog.LevelWarn), nil, boot)
		if err != nil {
			t.Fatal(err)
		}
		return db, rec
	}
	db, _ := open("boot-1")
	fill(t, db, 0, 10, 10, 10)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Fewer than the limit: opened normally, the count cleared.
	if err := writeMarker(dir, p.MaxIncompleteOpens-1, "boot-1"); err != nil {
		t.Fatal(err)
	}
	db, rec := open("boot-1")
	if rec != nil {
		t.Fatalf("recovered below the limit: %+v", rec)
	}
	if n, _ := readMarker(dir, "boot-1"); n != 0 {
		t.Fatalf("marker after a successful open = %d", n)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// At the limit, but in an earlier boot: power cuts, not a crash loop.
	if err := writeMarker(dir, p.MaxIncompleteOpens, "boot-0"); err != nil {
		t.Fatal(err)
	}
	db, rec = open("boot-1")
	if rec != nil {
		t.Fatalf("opens cut by a reboot counted: %+v", rec)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := writeMarker(dir, p.MaxIncompleteOpens, "boot-1"); err != nil {
		t.Fatal(err)
	}
	// At the limit in this boot: a healthy store is probed in a child
	// process, which opens it, and is kept (TestProbeVerdicts has the
	// crashing ones).
	db, rec = open("boot-1")
	defer db.Close()
	if rec != nil {
		t.Fatalf("a healthy store at the limit was moved aside: %+v", rec)
	}
	if n, _ := readMarker(dir, "boot-1"); n != 0 {
		t.Fatalf("marker after a probed open = %d", n)
	}
}

func TestQuarantineKeepsNewest(t *testing.T) {
	p := testProfile()
	p.KeepQuarantined = 2
	dir := filepath.Join(t.TempDir(), "db")
	var moved []string
	for i := range 4 {
		db, _ := mustOpen(t, dir, p)
		fill(t, db, i, 1, 10, 1)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, badger.ManifestFilename), []byte("garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		db, rec := mustOpen(t, dir, p)
		if rec == nil {
			t.Fatal("garbage MANIFEST not recovered")
		}
		moved = append(moved, rec.MovedTo)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	left, err := filepath.Glob(dir + quarantineInfix + "*")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0] != moved[2] || left[1] != moved[3] {
		t.Fatalf("kept %v; want the newest two of %v", left, moved)
	}
}

func TestQuarantineKeepNone(t *testing.T) {
	p := testProfile()
	p.KeepQuarantined = 0
	dir := filepath.Join(t.TempDir(), "db")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, badger.ManifestFilename), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "000001.sst"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, rec := mustOpen(t, dir, p)
	if rec == nil || rec.MovedTo != "" {
		t.Fatalf("Recovery = %+v; want one with nothing kept", rec)
	}
	assertNoQuarantine(t, dir)
}

func TestCompareQuarantined(t *testing.T) {
	names := []string{"d.corrupt-20260102T030405Z-10", "d.corrupt-20260102T030405Z-2",
		"d.corrupt-20260102T030405Z", "d.corrupt-20251231T000000Z"}
	want := []string{names[3], names[2], names[1], names[0]}
	got := append([]string(nil), names...)
	slices.SortFunc(got, compareQuarantined)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}

func TestRunStopsWithContextAndClose(t *testing.T) {
	p := testProfile()
	p.GCInterval = 10 * time.Millisecond
	db, _ := mustOpen(t, filepath.Join(t.TempDir(), "db"), p)
	fill(t, db, 0, 20, 40<<10, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.Run(ctx) }()
	testenv.Eventually(t, 10*time.Second, "Run's first collections", func() bool { return db.passes.Load() >= 3 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v", err)
	}
	before := db.passes.Load()
	go func() { done <- db.Run(context.Background()) }()
	testenv.Eventually(t, 10*time.Second, "the second Run collecting", func() bool { return db.passes.Load() > before })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after Close = %v", err)
	}
	if err := db.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run on a closed store = %v", err)
	}
	if _, err := db.CollectGarbage(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("CollectGarbage on a closed store = %v", err)
	}
}

func TestCollectGarbageRewrites(t *testing.T) {
	p := testProfile()
	p.NumLevelZeroTables = 1 // two L0 tables make Flatten compact them
	db, _ := mustOpen(t, filepath.Join(t.TempDir(), "db"), p)
	// Eight value-log files of big values, then most of them deleted.
	want := fill(t, db, 0, 400, 80<<10, 4)
	if err := db.Close(); err != nil { // the values' pointers into a table
		t.Fatal(err)
	}
	db, _ = mustOpen(t, db.Dir(), p)
	txn := db.NewTransaction(true)
	for i := range 400 {
		if i%10 == 0 {
			continue
		}
		if err := txn.Delete(key(i)); err != nil {
			t.Fatal(err)
		}
		delete(want, string(key(i)))
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	// Close flushes the deletions into a second table; compacting the two
	// drops the deleted versions, which feeds the discard statistics.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, _ = mustOpen(t, db.Dir(), p)
	if err := db.Flatten(1); err != nil {
		t.Fatal(err)
	}
	n, err := db.CollectGarbage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("no value-log file rewritten with 90% of the values deleted")
	}
	verify(t, db.bdb, want)
}

func TestProfilesValidate(t *testing.T) {
	profiles := []Profile{Device()}
	if strconv.IntSize == 64 { // the scheduler runs on amd64 and arm64 only
		profiles = append(profiles, Server())
	}
	for _, p := range profiles {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
	}
	if !Device().fitsTableBuilder32() {
		t.Error("device profile: a memtable flush overflows the table builder's first buffer on 32-bit")
	}
	if m := Device().MappedBytes(); m > 32<<20 {
		t.Errorf("device profile maps %d MiB besides its tables; want at most 32", m>>20)
	}
	bad := Device()
	bad.NumCompactors = 1
	bad.ValueLogFileSize = 1 << 30
	bad.ValueThreshold = 1 << 20
	err := bad.Validate()
	for _, want := range []string{"NumCompactors", "ValueLogFileSize", "ValueThreshold"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v; want it to name %s", err, want)
		}
	}
	if _, _, err := Open(t.TempDir(), bad, nil); err == nil {
		t.Error("Open accepted an invalid profile")
	}
}

func TestBadgerLoggerLevels(t *testing.T) {
	var c captureLogger
	l := newBadgerLogger(c.logger())
	l.Errorf("e %d\n", 1)
	l.Warningf("w %d", 2)
	l.Infof("i %d", 3)
	l.Debugf("d %d", 4)
	out := c.String()
	for _, want := range []string{`level=ERROR msg="e 1" component=badger`, `level=WARN msg="w 2"`, `level=DEBUG msg="i 3"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "d 4") {
		t.Errorf("badger debug output kept:\n%s", out)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err     error
		corrupt bool
	}{
		{&CorruptError{Reason: "x"}, true},
		{errors.New("manifest has bad magic"), true},
		{errors.New("While opening memtable: checksum mismatch"), true},
		{syscall.ENOSPC, false},
		{errors.New("while mmapping x with size: 8388608 cannot allocate memory"), false},
		{errors.New("Cannot acquire directory lock on \"d\".  Another process is using this Badger database. err: resource temporarily unavailable"), false},
		{&CorruptError{Reason: "x", Err: syscall.EACCES}, false},
		{errors.New("something new"), false},
	} {
		if got := isCorruption(tc.err); got != tc.corrupt {
			t.Errorf("isCorruption(%v) = %v, want %v", tc.err, got, tc.corrupt)
		}
	}
}

func assertNoQuarantine(t *testing.T, dir string) {
	t.Helper()
	if m, _ := filepath.Glob(dir + quarantineInfix + "*"); len(m) > 0 {
		t.Fatalf("store moved aside: %v", m)
	}
}

// TestEmptyMemtableLogIsRemoved is the state a SIGKILL right after Badger
// created a memtable's log leaves: an empty .mem file. The store must open,
// with its data, not fail on every start.
func TestEmptyMemtableLogIsRemoved(t *testing.T) {
	dir := t.TempDir()
	db, rec, err := Open(dir, Device(), nil)
	if err != nil || rec != nil {
		t.Fatalf("open: %v %v", rec, err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00099.mem"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	db, rec, err = Open(dir, Device(), nil)
	if err != nil || rec != nil {
		t.Fatalf("reopen with an empty memtable log: recovery %v, err %v", rec, err)
	}
	defer db.Close()
	if err := db.View(func(txn *badger.Txn) error { _, err := txn.Get([]byte("k")); return err }); err != nil {
		t.Fatalf("data lost: %v", err)
	}
}

// TestEmptyValueLogIsRemoved is the state a power cut between the two
// steps of Badger's deletion of a value-log file (truncate to zero, then
// unlink) leaves: an empty .vlog. The store must open, with its data.
func TestEmptyValueLogIsRemoved(t *testing.T) {
	dir := t.TempDir()
	db, rec, err := Open(dir, Device(), nil)
	if err != nil || rec != nil {
		t.Fatalf("open: %v %v", rec, err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	vlogs := files(t, dir, ".vlog")
	if len(vlogs) == 0 {
		t.Fatal("no value-log file to empty")
	}
	// The newest one as Badger's deletion leaves it, and an older one
	// besides, as in the store the harness found.
	if err := os.Truncate(vlogs[len(vlogs)-1], 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "000000.vlog"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	db, rec, err = Open(dir, Device(), nil)
	if err != nil || rec != nil {
		t.Fatalf("reopen with an empty value-log file: recovery %v, err %v", rec, err)
	}
	defer db.Close()
	if err := db.View(func(txn *badger.Txn) error { _, err := txn.Get([]byte("k")); return err }); err != nil {
		t.Fatalf("data lost: %v", err)
	}
}

// TestCloseGivesUpOnAFailingDisk removes a store's directory under it, as
// a dying SD card would fail its writes: Badger's Close would retry the
// memtable flush forever; Close must give up with an error. It runs in a
// child process, because what it gives up on keeps running (goleak).
func TestCloseGivesUpOnAFailingDisk(t *testing.T) {
	if os.Getenv("TETHER_STORE_CLOSE_CHILD") == "1" {
		dir := t.TempDir()
		p := Device()
		p.CloseTimeout = 2 * time.Second
		db, _, err := Open(filepath.Join(dir, "s"), p, nil)
		if err != nil {
			fmt.Println("CHILD open:", err)
			os.Exit(3)
		}
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("k"), []byte("v")) }); err != nil {
			fmt.Println("CHILD write:", err)
			os.Exit(3)
		}
		os.RemoveAll(filepath.Join(dir, "s"))
		start := time.Now()
		err = db.Close()
		fmt.Printf("CHILD closed after %v: %v\n", time.Since(start).Round(100*time.Millisecond), err)
		if err == nil {
			os.Exit(1)
		}
		os.Exit(0) // before goleak: the abandoned Close is still running
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCloseGivesUpOnAFailingDisk$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TETHER_STORE_CLOSE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "not closed within") {
		t.Fatalf("child output lacks the give-up error:\n%s", out)
	}
}
