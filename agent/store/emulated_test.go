package store

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/testenv"
)

// envEmulated marks a child run of this package's tests under emulation.
const envEmulated = "TETHER_STORE_EMULATED"

// notEmulated are the tests of this package the runs under qemu-user
// leave out, each with its reason. Every other test runs, in its -short
// form, and must pass under each architecture.
var notEmulated = map[string]string{
	// Cannot run there.
	"TestEmulatedArchitectures": "the runs themselves: an emulated run does not start four more",
	"TestPowerLossWorkload":     "the power-cut harness's workload: it runs inside a qemu-system VM whose power scripts/powerloss cuts, and skips anywhere else",
	"TestDiskBytesPerHour":      "a measurement of the host's disk writes over minutes (TETHER_MEASURE_DISK), not a check",
	// Left to the host for time (make test's budget, docs/benchmarks.md):
	// what they check is not per architecture, and the file handling they
	// go through is the other tests'.
	"TestSizeFollowsLiveData":                "a bound on the store's size over 60 cycles of writes: Badger's compaction and value-log GC arithmetic (about 20 s emulated)",
	"TestMigrationOnAFullDisk":               "the legacy-store migration's room rules on a full tmpfs; the store's own full-disk handling runs (TestDiskFullShedsMetricsKeepsEventsAndRecovers)",
	"TestMigrationRefusedWithoutRoom":        "the legacy-store migration's room arithmetic, on injected free space",
	"TestMigratedStoreKeepsDeletionsDeleted": "the migration's copy of deletions; deletions across reopens run (TestDeletedStaysDeleted), the migration itself runs (TestMigrationMovesLargeValuesOutOfTheValueLog, TestMigrationKilledAtEachStep)",
}

// emulatedSkips are the subtests an emulated run may skip: those that skip
// on the architecture itself, as they would on the device.
var emulatedSkips = map[string]bool{
	"TestContract/server": true, // the scheduler's profile, on 32-bit targets
}

// TestEmulatedArchitectures builds this package's test binary for the
// agent's release targets other than amd64 — armv6 (Pi Zero, Pi 1),
// armv7, arm64 and riscv64 — and runs it under qemu user emulation with
// -test.short: every test of the package but those of notEmulated, with
// the same checks as on the host (-short only trims the kill tests to two
// kill points each). That covers opening, closing and reopening stores,
// reopening after kills inside a commit, a ForgetTask or a migration (the
// kills land on an emulated child, started under the same emulator:
// selfCommand), crash images, the outbox and its bounds, task journals
// and checkpoints, blobs, full disks and damaged files. Badger truncates
// and remaps its files through ristretto's mremap, which is per
// architecture (pkg/third_party/ristretto/README.md): riscv64 could not
// reopen a store it had not closed.
//
// The four run side by side, their stores on tmpfs when the host has
// /dev/shm: what they check is Badger's file handling under each
// architecture's system calls, not the host disk's fsyncs. Each test must
// pass: one that skips without being in emulatedSkips, or that does not
// run at all, fails the run. Times: docs/benchmarks.md.
func TestEmulatedArchitectures(t *testing.T) {
	if os.Getenv(envEmulated) != "" {
		t.Skip("running as a child")
	}
	if testing.Short() {
		t.Skip("cross-builds and emulates: not in -short")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the runs are set up for a linux/amd64 host")
	}
	root := testenv.ModuleRoot(t)
	var skip []string
	for name := range notEmulated {
		skip = append(skip, regexp.QuoteMeta(name))
	}
	skipRE := "^(" + strings.Join(skip, "|") + ")$"
	// The four start at once, not as parallel subtests: those would wait
	// for -test.parallel slots (GOMAXPROCS, 2 on the build machine), and
	// what a run waits on is mostly its own sleeps and the emulator.
	archs := []emulatedArch{
		{"armv6", "arm", "6", "qemu-arm-static"},
		{"armv7", "arm", "7", "qemu-arm-static"},
		{"arm64", "arm64", "", "qemu-aarch64-static"},
		{"riscv64", "riscv64", "", "qemu-riscv64-static"},
	}
	results := make([]chan emulatedResult, len(archs))
	for i, a := range archs {
		results[i] = make(chan emulatedResult, 1)
		qemu, err := exec.LookPath(a.qemu)
		if err != nil {
			results[i] <- emulatedResult{missing: true}
			continue
		}
		tmp := t.TempDir()
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			if tmp, err = os.MkdirTemp("/dev/shm", "tether-emulated-"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.RemoveAll(tmp) })
		}
		bin := t.TempDir()
		go func() { results[i] <- a.run(root, qemu, bin, tmp, skipRE) }()
	}
	for i, a := range archs {
		t.Run(a.name, func(t *testing.T) {
			r := <-results[i]
			if r.missing {
				testenv.RequireTool(t, a.qemu) // fails under CI=true, skips elsewhere
			}
			if r.err != "" {
				t.Fatalf("%s: %s", a.name, r.err)
			}
			t.Logf("%s: built in %v; %d tests passed under %s in %v (%v of CPU)", a.name,
				r.build.Round(100*time.Millisecond), r.tests, a.qemu,
				r.wall.Round(100*time.Millisecond), r.cpu.Round(100*time.Millisecond))
		})
	}
}

// emulatedArch is a release target and its emulator.
type emulatedArch struct{ name, goarch, goarm, qemu string }

// emulatedResult is how a target's run went: err is "" when it passed.
type emulatedResult struct {
	missing          bool // the emulator is not installed
	err              string
	tests            int
	build, wall, cpu time.Duration // the cross-build's; the run's
}

// run cross-builds this package's test binary for a into bin/ and runs it
// under qemu (the emulator's path) in tmp.
func (a emulatedArch) run(root, qemu, bin, tmp, skipRE string) (r emulatedResult) {
	start := time.Now()
	exe := filepath.Join(bin, "store."+a.name+".test")
	build := exec.Command("go", "test", "-c", "-trimpath", "-o", exe, "./agent/store")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+a.goarch, "GOARM="+a.goarm)
	if out, err := build.CombinedOutput(); err != nil {
		r.err = fmt.Sprintf("go test -c: %v\n%s", err, out)
		return r
	}
	r.build = time.Since(start)
	env := append(os.Environ(), envEmulated+"=1", envEmulator+"="+qemu, "TMPDIR="+tmp)

	list := exec.Command(qemu, exe, "-test.list", ".")
	list.Env, list.Dir = env, tmp
	names, err := list.Output()
	if err != nil {
		r.err = fmt.Sprintf("listing the tests under %s: %v", a.qemu, err)
		return r
	}
	var want []string // the tests (and fuzz targets' seeds) to pass
	listed := map[string]bool{}
	for _, name := range strings.Fields(string(names)) {
		listed[name] = true
		if notEmulated[name] == "" && !strings.HasPrefix(name, "Benchmark") && !strings.HasPrefix(name, "Example") {
			want = append(want, name)
		}
	}
	for name := range notEmulated {
		if !listed[name] {
			r.err = fmt.Sprintf("notEmulated names %s, which the package no longer has", name)
			return r
		}
	}
	if len(want) < 30 {
		r.err = fmt.Sprintf("the test binary lists %d tests: %q", len(want), want)
		return r
	}
	r.tests = len(want)

	run := exec.Command(qemu, exe, "-test.short", "-test.skip", skipRE, "-test.v", "-test.timeout", "8m")
	run.Env, run.Dir = env, tmp
	out, err := run.CombinedOutput()
	r.wall = time.Since(start) - r.build
	if run.ProcessState != nil {
		r.cpu = run.ProcessState.UserTime() + run.ProcessState.SystemTime()
	}
	if err != nil {
		r.err = fmt.Sprintf("under %s: %v\n%s", a.qemu, err, tail(out, 6000))
	} else if bad := emulatedVerdict(string(out), want); bad != "" {
		r.err = fmt.Sprintf("under %s: %s\n%s", a.qemu, bad, tail(out, 6000))
	}
	return r
}

// emulatedVerdict checks a child's -test.v output: each test of want
// passed, and nothing skipped but emulatedSkips. It returns what is wrong,
// or "".
func emulatedVerdict(out string, want []string) string {
	var bad []string
	for _, name := range want {
		if !strings.Contains(out, "\n--- PASS: "+name+" (") {
			bad = append(bad, name+" did not pass")
		}
	}
	for _, m := range regexp.MustCompile(`--- SKIP: (\S+) `).FindAllStringSubmatch(out, -1) {
		if !emulatedSkips[m[1]] {
			bad = append(bad, m[1]+" skipped")
		}
	}
	if len(bad) > 0 {
		return fmt.Sprint(bad)
	}
	return ""
}

// tail returns the last n bytes of out.
func tail(out []byte, n int) string {
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return string(out)
}
