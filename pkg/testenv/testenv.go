// Package testenv is the kit Tether's tests share: finding external tools
// (Mosquitto, qemu) with the CI rule that a missing dependency fails instead
// of skipping, building the binaries once per test process, a logger into
// the test's own log (Logger), waiting on what a test cannot be told of
// (Eventually, Within), and tmpfs mounts. An embedded broker for a test is
// broker/mqttd/mqttdtest.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// RequireTool returns the path of an external program. When it is missing
// the test is skipped on a developer machine, and fails under CI: `make
// test` installs every tool the tests use (scripts/install-deps.sh).
func RequireTool(t testing.TB, name string, alternatives ...string) string {
	t.Helper()
	for _, n := range append([]string{name}, alternatives...) {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
			p := filepath.Join(dir, n)
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p
			}
		}
	}
	msg := name + " is not installed; run scripts/install-deps.sh (make deps)"
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// ModuleRoot returns the repository root (the directory holding go.mod).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		t.Fatal("not inside the Tether module")
	}
	return filepath.Dir(mod)
}

// Build compiles the main package pkg (e.g. "./agent") for goos/goarch
// (goarm for 32-bit ARM) into dir and returns the binary's path. Builds
// are static and CGO-free, as released.
func Build(t testing.TB, dir, pkg, name, goos, goarch, goarm string) string {
	t.Helper()
	if goos == "" {
		goos, goarch = runtime.GOOS, runtime.GOARCH
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = ModuleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOARM="+goarm)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s for %s/%s%s: %v\n%s", pkg, goos, goarch, goarm, err, b)
	}
	return out
}
