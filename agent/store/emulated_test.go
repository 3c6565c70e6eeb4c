package store

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tether-edge/tether/pkg/testenv"
)

// envEmulated marks a child run of this package's tests under emulation.
const envEmulated = "TETHER_STORE_EMULATED"

// emulatedTests are the store's contract (every operation, on a fresh and
// on a reopened store) and its crash image reopened: Badger truncates the
// WAL it replays and the last value-log file, through ristretto's mremap,
// which is per architecture (pkg/third_party/ristretto/README.md).
// TestContract's server variant is the scheduler's, on amd64.
const emulatedTests = "^(TestContract|TestCrashImageHasEveryCommit)$/^(device|reopened)$"

// TestEmulatedArchitectures builds this package's tests for the agent's
// release targets other than amd64 and runs the store's contract and crash
// reopen under qemu user emulation: armv6 (Pi Zero, Pi 1), armv7, arm64
// and riscv64. The four run side by side, their stores on tmpfs when the
// host has /dev/shm: what they check is Badger's file handling under each
// architecture's system calls, not the host disk's fsyncs, which a loaded
// build machine makes slow. Measured on the 2-vCPU build VM at a load
// average of 30: about a minute a run after the cross-build.
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
	for _, tc := range []struct{ name, goarch, goarm, qemu string }{
		{"armv6", "arm", "6", "qemu-arm-static"},
		{"armv7", "arm", "7", "qemu-arm-static"},
		{"arm64", "arm64", "", "qemu-aarch64-static"},
		{"riscv64", "riscv64", "", "qemu-riscv64-static"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			qemu := testenv.RequireTool(t, tc.qemu)
			bin := filepath.Join(t.TempDir(), "store."+tc.name+".test")
			build := exec.Command("go", "test", "-c", "-o", bin, "./agent/store")
			build.Dir = root
			build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+tc.goarch, "GOARM="+tc.goarm)
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go test -c for %s: %v\n%s", tc.name, err, out)
			}
			run := exec.Command(qemu, bin, "-test.run", emulatedTests, "-test.v", "-test.timeout", "5m")
			tmp := t.TempDir()
			if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
				tmp, err = os.MkdirTemp("/dev/shm", "tether-emulated-")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = os.RemoveAll(tmp) })
			}
			run.Env = append(os.Environ(), envEmulated+"=1", "TMPDIR="+tmp)
			run.Dir = tmp
			out, err := run.CombinedOutput()
			passed := strings.Contains(string(out), "--- PASS: TestContract ") &&
				strings.Contains(string(out), "--- PASS: TestCrashImageHasEveryCommit ")
			if err != nil || !passed {
				t.Fatalf("%s %s under %s: %v\n%s", tc.name, emulatedTests, tc.qemu, err, tail(out, 4000))
			}
		})
	}
}

// tail returns the last n bytes of out.
func tail(out []byte, n int) string {
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return string(out)
}
