package collect

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
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

// netDevHeader is the two header lines of /proc/net/dev.
const netDevHeader = "Inter-|   Receive                                                |  Transmit\n" +
	" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"

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

// fixtureSystem is gopsutil on a fixture tree: the calls that read the
// tree through the roots are gopsutil's own; those that read the live
// machine whatever the roots are stood in for.
//
//   - diskUsage (statfs(2)) reports a 29.7 GiB filesystem, 5% reserved,
//     worked out as gopsutil does from the block counts;
//   - uptime (sysinfo(2)) reads the first field of the tree's proc/uptime;
//   - hostInfo (os.Hostname, uname(2), lsb_release, container detection)
//     answers info, and counts its calls.
type fixtureSystem struct {
	psutil
	root      string
	info      host.InfoStat
	infoCalls *atomic.Int32
}

var _ system = fixtureSystem{}

// fixtureInfo is what host.Info would say on the machines of the trees:
// their proc/sys/kernel/{hostname,osrelease}, etc/os-release (with
// etc/debian_version on the Pi) and proc/stat's btime.
var fixtureInfo = map[string]host.InfoStat{
	"pi4": {Hostname: "pi4-edge-01", Platform: "debian", PlatformVersion: "12.7",
		KernelVersion: "6.6.51+rpt-rpi-v8", BootTime: 1717401600},
	"x86": {Hostname: "nuc-lab-02", Platform: "ubuntu", PlatformVersion: "24.04",
		KernelVersion: "6.8.0-45-generic", BootTime: 1717250000},
}

func (fixtureSystem) diskUsage(_ context.Context, path string) (*disk.UsageStat, error) {
	const blocks, bfree, bavail, bsize uint64 = 7_786_000, 5_100_000, 4_710_700, 4096
	used, free := (blocks-bfree)*bsize, bavail*bsize
	return &disk.UsageStat{Path: path, Total: blocks * bsize, Free: free, Used: used,
		UsedPercent: float64(used) / float64(used+free) * 100}, nil
}

func (f fixtureSystem) uptime(context.Context) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(f.root, "proc/uptime"))
	if err != nil {
		return 0, err
	}
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	secs, err := strconv.ParseFloat(s, 64)
	return uint64(secs), err
}

func (f fixtureSystem) hostInfo(context.Context) (*host.InfoStat, error) {
	f.infoCalls.Add(1)
	i := f.info
	return &i, nil
}

// newFixtureSystem returns the system of the fixture tree copied to root
// from testdata/<tree>.
func newFixtureSystem(root, tree string) fixtureSystem {
	return fixtureSystem{root: root, info: fixtureInfo[tree], infoCalls: new(atomic.Int32)}
}

// fixtureOptions are Options for a fixture tree copied to root. DataDir is
// the agent's usual one: statfs is stood in for in fixture tests.
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

// newFixtureCollector returns a Collector on root, a copy of the fixture
// tree testdata/<tree>, closed when the test ends.
func newFixtureCollector(t testing.TB, root, tree string, clk *fakeClock) *Collector {
	t.Helper()
	return newCollectorOn(t, newFixtureSystem(root, tree), fixtureOptions(root, clk))
}

// newCollectorOn returns a Collector reading sys, closed when the test ends.
func newCollectorOn(t testing.TB, sys system, opts Options) *Collector {
	t.Helper()
	c, err := newCollector(opts, sys)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
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
