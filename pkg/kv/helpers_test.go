package kv

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/tether-edge/tether/pkg/testenv"
)

// captureLogger records every record at Debug and above.
type captureLogger struct{ testenv.SyncBuffer }

func (c *captureLogger) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testProfile is the device profile; tests open many stores.
func testProfile() Profile { return Device() }

// mustOpen opens dir and closes the store when the test ends.
func mustOpen(t testing.TB, dir string, p Profile) (*DB, *Recovery) {
	t.Helper()
	db, rec, err := Open(dir, p, testenv.Logger(t, slog.LevelWarn))
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, rec
}

func key(i int) []byte { return fmt.Appendf(nil, "k%06d", i) }

// value returns the deterministic value of key i: big ones go to the
// value log.
func value(i, size int) []byte {
	v := bytes.Repeat(fmt.Appendf(nil, "v%06d.", i), size/8+1)
	return v[:size]
}

// fill writes n keys (values of size bytes) in transactions of per keys,
// signalling each commit to the compactor, and returns what it wrote.
func fill(t testing.TB, db *DB, from, n, size, per int) map[string][]byte {
	t.Helper()
	want := make(map[string][]byte, n)
	for i := from; i < from+n; {
		txn := db.NewTransaction(true)
		for j := 0; j < per && i < from+n; j, i = j+1, i+1 {
			k, v := key(i), value(i, size)
			if err := txn.Set(k, v); err != nil {
				t.Fatalf("set %s: %v", k, err)
			}
			want[string(k)] = v
		}
		if err := txn.Commit(); err != nil {
			t.Fatalf("commit: %v", err)
		}
		db.Wrote()
	}
	return want
}

// verify checks every key of want reads back exactly.
func verify(t testing.TB, db *badger.DB, want map[string][]byte) {
	t.Helper()
	got, err := readAll(db)
	if err != nil {
		t.Fatalf("reading the store: %v", err)
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Fatalf("key %s: got %d bytes, want %d", k, len(got[k]), len(v))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("store has %d keys, want %d", len(got), len(want))
	}
}

// readAll reads every key and value of the store.
func readAll(db *badger.DB) (map[string][]byte, error) {
	got := map[string][]byte{}
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("key %s: %w", it.Item().Key(), err)
			}
			got[string(it.Item().KeyCopy(nil))] = v
		}
		return nil
	})
	return got, err
}

// readAllCheck is an OpenChecked check that reads everything: a value that
// cannot be read is damage. Badger returns an empty value, and no error,
// when it cannot read one from the value log (iterator.go yieldItemValue);
// the tests' values are never empty.
func readAllCheck(db *badger.DB) error {
	got, err := readAll(db)
	if err != nil {
		return &CorruptError{Reason: "a value cannot be read", Err: err}
	}
	for k, v := range got {
		if len(v) == 0 {
			return &CorruptError{Reason: "the value of " + k + " cannot be read"}
		}
	}
	return nil
}

// files lists the store's files with the given suffix, sorted.
func files(t testing.TB, dir, suffix string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// crashCopy copies the files of an open store: what a crash (kill -9)
// would leave, since every commit was synced before it returned.
func crashCopy(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "crashed")
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "LOCK" {
			continue
		}
		copyFile(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
	}
	return dst
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies a closed store.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		copyFile(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
	}
}
