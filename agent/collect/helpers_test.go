package collect

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// copyTree copies the fixture tree testdata/<name> into a new temporary
// directory and returns its path.
func copyTree(t testing.TB, name string) string {
	t.Helper()
	dst := t.TempDir()
	overlay(t, filepath.Join("testdata", name), dst)
	return dst
}

// overlay writes every file of the tree src over the same path under dst,
// in place: a Collector keeps its files open, and a new inode (a rename)
// would go unseen, as it would never happen in procfs or sysfs.
func overlay(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatalf("overlay %s on %s: %v", src, dst, err)
	}
}

// writeFile writes data to root/rel in place, creating directories.
func writeFile(t testing.TB, root, rel, data string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 6, 3, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixtureDisk is what statfs reports in fixture tests: 29.7 GiB, 5% reserved.
func fixtureDisk(string) (fsStat, error) {
	return fsStat{blocks: 7_786_000, bfree: 5_100_000, bavail: 4_710_700, bsize: 4096}, nil
}

// fixtureOptions are Options for a fixture tree copied to root. DataDir is
// the agent's usual one: statfs is faked in fixture tests.
func fixtureOptions(root string, clk *fakeClock) Options {
	return Options{
		DataDir:  "/var/lib/tether",
		ProcRoot: filepath.Join(root, "proc"),
		SysRoot:  filepath.Join(root, "sys"),
		EtcRoot:  filepath.Join(root, "etc"),
		VarRoot:  filepath.Join(root, "var"),
		Now:      clk.Now,
	}
}

// newFixtureCollector returns a Collector on the fixture tree root, with a
// fake disk, closed when the test ends.
func newFixtureCollector(t testing.TB, root string, clk *fakeClock) *Collector {
	t.Helper()
	c, err := New(fixtureOptions(root, clk))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.statfs = fixtureDisk
	t.Cleanup(func() { c.Close() })
	return c
}

func sample(t testing.TB, c *Collector) Sample {
	t.Helper()
	s, err := c.Sample(context.Background())
	if err != nil {
		t.Fatalf("Sample: %v", err)
	}
	return s
}
