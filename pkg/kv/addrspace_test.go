package kv

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/tether-edge/tether/pkg/testenv"
)

// asLimit is the address space the device profile must work in: a 32-bit
// ARM process (a Pi Zero 2 W on Raspberry Pi OS 32-bit) has at most 3 GiB,
// less what the runtime and libraries take.
const asLimit = "2147483648"

// TestAddressSpace builds this package's tests for armv7, arm64 and 386 and
// runs TestDeviceWorkload inside 2 GiB of address space: armv7 under
// qemu-arm-static, arm64 under qemu-aarch64-static, 386 natively. A second
// run opens a store with Badger's default value-log size (1 GiB, mapped as
// 2 GiB: badger#1229), which must fail with "cannot allocate memory" and
// be returned as an error, not taken for damage. The 32-bit runs also
// guard the table-builder bug described at Profile.BaseTableSize.
//
// A kernel built without IA32 emulation cannot run 386 binaries (exec
// format error) and Go does not run under qemu-i386: the 386 run is then
// left out, and armv7 alone covers the 32-bit address space.
func TestAddressSpace(t *testing.T) {
	if os.Getenv(envASLimit) != "" || os.Getenv(envDefaults) != "" {
		t.Skip("running as a child")
	}
	if testing.Short() {
		t.Skip("cross-builds and emulates: not in -short")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the runs are set up for a linux/amd64 host")
	}
	root := testenv.ModuleRoot(t)
	for _, tc := range []struct {
		name, goarch, goarm string
		emulator            string
		prlimit             bool // limit from outside: a 64-bit guest
	}{
		{name: "armv7", goarch: "arm", goarm: "7", emulator: "qemu-arm-static"},
		{name: "arm64", goarch: "arm64", emulator: "qemu-aarch64-static", prlimit: true},
		{name: "386", goarch: "386"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.goarch == "386" && !kernelRuns386(t) {
				t.Skip("this kernel cannot run 386 binaries (no IA32 emulation); armv7 covers the 32-bit address space")
			}
			var prefix []string
			if tc.prlimit {
				prefix = append(prefix, testenv.RequireTool(t, "prlimit"), "--as="+asLimit)
			}
			if tc.emulator != "" {
				prefix = append(prefix, testenv.RequireTool(t, tc.emulator))
			}
			bin := filepath.Join(t.TempDir(), "store."+tc.name+".test")
			build := exec.Command("go", "test", "-c", "-trimpath", "-o", bin, "./pkg/kv")
			build.Dir = root
			build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+tc.goarch, "GOARM="+tc.goarm)
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go test -c for %s: %v\n%s", tc.name, err, out)
			}
			env := []string{}
			if !tc.prlimit {
				env = append(env, envASLimit+"="+asLimit)
			}
			out := runChild(t, append(prefix, bin), env)
			line := regexp.MustCompile(`WORKLOAD [^\n]*`).FindString(out)
			if line == "" {
				t.Fatalf("no WORKLOAD line:\n%s", out)
			}
			t.Log(line)
			out = runChild(t, append(prefix, bin), append(env, envDefaults+"=1"))
			if !strings.Contains(out, "BADGER-DEFAULT-FAILS") {
				t.Fatalf("Badger's default value-log size did not fail as expected:\n%s", out)
			}
		})
	}
}

// kernelRuns386 reports whether this kernel executes a 386 binary: it
// builds and runs a trivial one.
func kernelRuns386(t *testing.T) bool {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "probe386")
	build := exec.Command("go", "build", "-o", bin, src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=386")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building a 386 probe: %v\n%s", err, out)
	}
	return exec.Command(bin).Run() == nil
}

// runChild runs TestDeviceWorkload of a cross-built test binary and
// returns its output; it fails the test unless the child passed.
func runChild(t *testing.T, argv []string, env []string) string {
	t.Helper()
	cmd := exec.Command(argv[0], append(argv[1:], "-test.run", "^TestDeviceWorkload$", "-test.v")...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestDeviceWorkload") {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}
