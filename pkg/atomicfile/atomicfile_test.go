package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteReplacesAndKeepsTheMode: a new file is 0600 (or Mode); a
// replaced one keeps its mode; no temporary file is left; a reader that
// fails leaves the old content.
func TestWriteReplacesAndKeepsTheMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := Write(p, strings.NewReader("one"), Options{}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("new file mode %v", fi.Mode().Perm())
	}
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, strings.NewReader("two"), Options{Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Errorf("content %q", b)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("replaced file mode %v, want the old 0640", fi.Mode().Perm())
	}
	if err := Write(p, failing{}, Options{}); err == nil {
		t.Fatal("a failing reader wrote")
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Errorf("after a failed write: %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left: %v", entries)
	}
	if err := Write(p, strings.NewReader("three"), Options{ForceMode: true}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("ForceMode left mode %v, want 0600", fi.Mode().Perm())
	}
	q := filepath.Join(dir, "g")
	if err := Write(q, strings.NewReader("x"), Options{Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(q); fi.Mode().Perm() != 0o644 {
		t.Errorf("new file with Mode 0644: %v", fi.Mode().Perm())
	}
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("broken source") }
