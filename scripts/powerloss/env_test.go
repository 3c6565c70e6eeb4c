package powerloss

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/testenv"
)

var (
	cutsFlag     = flag.Int("cuts", 0, "power cuts in TestPowerCuts (default $POWERLOSS_CUTS, else 10, or 200 with TETHER_SOAK)")
	seedFlag     = flag.Int64("seed", 0, "seed of the cut plan, to replay a run (default $POWERLOSS_SEED, else the clock)")
	diskFlag     = flag.String("disk", "", "direct (qemu cache=none) or volatile (a volatile write cache that loses unflushed blocks at cuts); default $POWERLOSS_DISK, else direct")
	workloadFlag = flag.String("workload", "", "store, task or selftest (default $POWERLOSS_WORKLOAD, else store when agent/store has TestPowerLossWorkload)")
	taskCutsFlag = flag.Int("task-cuts", 0, "cuts TestTaskPowerCuts spreads its task over (default $POWERLOSS_TASK_CUTS, else 12, or 50 with TETHER_SOAK)")
)

// vmEnv is what every VM test needs: the tools, the kernel and the base
// initramfs, cached under .cache/powerloss/.
type vmEnv struct {
	root, cache string
	qemu, mkfs  string
	kernel      Kernel
	baseInitrd  string
}

// needVM finds or prepares everything for booting the VM. A missing tool
// or kernel package skips the test, and fails it under CI.
func needVM(t *testing.T) *vmEnv {
	t.Helper()
	e := &vmEnv{
		qemu: testenv.RequireTool(t, "qemu-system-x86_64"),
		mkfs: testenv.RequireTool(t, "mkfs.ext4"),
	}
	testenv.RequireTool(t, "dpkg-deb")
	testenv.RequireTool(t, "xz")
	busybox := "/bin/busybox"
	if err := CheckStatic(busybox); err != nil {
		missing(t, fmt.Sprintf("busybox-static is not installed (%v); run scripts/install-deps.sh (make deps)", err))
	}
	bbVersion, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "busybox-static").Output()
	if err != nil {
		missing(t, "busybox-static is not installed; run scripts/install-deps.sh (make deps)")
	}
	e.root = testenv.ModuleRoot(t)
	e.cache = filepath.Join(e.root, ".cache", "powerloss")
	deb, err := FindKernelDeb(filepath.Join(e.cache, "debs"))
	if errors.Is(err, ErrNoKernel) {
		missing(t, err.Error())
	}
	if e.kernel, err = PrepareKernel(deb, e.cache); err != nil {
		t.Fatalf("preparing the kernel: %v", err)
	}
	if e.baseInitrd, err = PrepareBaseInitrd(e.kernel, busybox, string(bbVersion), e.cache); err != nil {
		t.Fatalf("preparing the initramfs: %v", err)
	}
	return e
}

func missing(t *testing.T, msg string) {
	t.Helper()
	if testenv.InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// workload is a guest binary and its arguments.
type workload struct {
	name string // "store", "task" or "selftest"
	bin  string
	args []string
}

// storeHasWorkload reports whether agent/store defines TestPowerLossWorkload.
func storeHasWorkload(root string) bool {
	files, _ := filepath.Glob(filepath.Join(root, "agent", "store", "*_test.go"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "func TestPowerLossWorkload(") {
			return true
		}
	}
	return false
}

// buildWorkload builds the guest workload, static and CGO-free: "store" is
// agent/store's test binary running TestPowerLossWorkload, "task"
// agent/runner's running TestPowerLossTaskWorkload, "selftest" the
// harness's own (selftestworkload), each with extra arguments.
func buildWorkload(t *testing.T, e *vmEnv, dir, name string, extra ...string) workload {
	t.Helper()
	pkg, test := "./agent/store", "TestPowerLossWorkload"
	switch name {
	case "selftest":
		bin := testenv.Build(t, dir, "./scripts/powerloss/selftestworkload", "workload", "", "", "")
		return workload{name: name, bin: bin, args: extra}
	case "task":
		pkg, test = "./agent/runner", "TestPowerLossTaskWorkload"
	}
	bin := filepath.Join(dir, "workload")
	cmd := exec.Command("go", "test", "-c", "-trimpath", "-o", bin, pkg)
	cmd.Dir = e.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test -c %s: %v\n%s", pkg, err, b)
	}
	return workload{name: name, bin: bin, args: append([]string{"-test.run=^" + test + "$", "-test.v=false"}, extra...)}
}

// chooseWorkload picks the workload for TestPowerCuts.
func chooseWorkload(t *testing.T, root string) string {
	w := *workloadFlag
	if w == "" {
		w = os.Getenv("POWERLOSS_WORKLOAD")
	}
	switch w {
	case "store", "task", "selftest":
		return w
	case "", "auto":
		if storeHasWorkload(root) {
			return "store"
		}
		t.Log("agent/store has no TestPowerLossWorkload yet: cutting the harness's self-test workload instead")
		return "selftest"
	}
	t.Fatalf("workload %q: want store, task or selftest", w)
	return ""
}

// volatileSetting reports whether TestPowerCuts puts the disk behind the
// harness's volatile write cache.
func volatileSetting(t *testing.T) bool {
	d := *diskFlag
	if d == "" {
		d = os.Getenv("POWERLOSS_DISK")
	}
	switch d {
	case "", "direct":
		return false
	case "volatile":
		return true
	}
	t.Fatalf("disk %q: want direct or volatile", d)
	return false
}

// soakOr is short, or long when TETHER_SOAK asks for the soak (`make
// soak`): the counts `make test` runs prove the harness and the store in a
// few minutes; the soak's hundreds of cuts find the rare windows.
func soakOr(short, long int64) int64 {
	if os.Getenv("TETHER_SOAK") != "" {
		return long
	}
	return short
}

func intSetting(t *testing.T, flagVal int64, env string, def int64) int64 {
	if flagVal != 0 {
		return flagVal
	}
	if s := os.Getenv(env); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", env, s, err)
		}
		return v
	}
	return def
}

// keepRuns is how many run directories .cache/powerloss/runs keeps.
const keepRuns = 20

// runDir is where one run keeps its disk, initramfs and console log:
// under .cache (on the host's disk: cache=none needs O_DIRECT, which tmpfs
// lacks). Names start with the UTC time, so the oldest sort first and go
// when there are more than keepRuns.
func runDir(t *testing.T, e *vmEnv, name string, seed int64) string {
	runs := filepath.Join(e.cache, "runs")
	if old, _ := filepath.Glob(filepath.Join(runs, "*")); len(old) >= keepRuns {
		for _, d := range old[:len(old)-keepRuns+1] {
			os.RemoveAll(d)
		}
	}
	dir := filepath.Join(runs, fmt.Sprintf("%s-%s-%d", time.Now().UTC().Format("20060102T150405"), name, seed))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
