package packages_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tether-edge/tether/pkg/testenv"
)

// maxExposure is the highest `systemd-analyze security` score a shipped
// unit may have: "OK" is below 3; Tether's units aim lower.
const maxExposure = 2.5

// TestDebLifecycle builds the amd64 packages of both binaries in two
// versions with scripts/package-deb.sh and takes them through what an
// operator does with apt: install, upgrade with a locally changed conffile,
// remove, purge — checking files, owners, modes, the system user, the units
// (systemd-analyze verify and security --offline) and what each step keeps.
// It installs into this machine's root, so it needs root; CI runs as root.
func TestDebLifecycle(t *testing.T) {
	for _, tool := range []string{"dpkg", "dpkg-deb", "systemd-analyze", "useradd"} {
		testenv.RequireTool(t, tool)
	}
	if os.Geteuid() != 0 {
		if testenv.InCI() {
			t.Fatal("installing packages needs root; CI runs as root")
		}
		t.Skip("installing packages needs root")
	}
	for _, p := range []string{"tether-agent", "tether-broker"} {
		if st := dpkgStatus(p); st != "" {
			t.Fatalf("%s is already installed on this machine (%s); this test would replace it", p, st)
		}
	}
	t.Cleanup(func() {
		for _, p := range []string{"tether-agent", "tether-broker"} {
			_ = exec.Command("dpkg", "--purge", p).Run()
		}
	})

	root := testenv.ModuleRoot(t)
	dir := t.TempDir()
	agentBin := testenv.Build(t, dir, "./agent", "tether-agent", "linux", "amd64", "")
	brokerBin := testenv.Build(t, dir, "./broker", "tether-broker", "linux", "amd64", "")
	deb := func(pkg, bin, version string) string {
		cmd := exec.Command(filepath.Join(root, "scripts/package-deb.sh"), pkg, "amd64", bin, version, dir)
		cmd.Env = append(os.Environ(), "DEB_COMPRESSION=gzip") // xz is for releases; gzip is quicker
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("package-deb.sh %s %s: %v\n%s", pkg, version, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	agent1, agent2 := deb("tether-agent", agentBin, "1.0.0"), deb("tether-agent", agentBin, "1.0.1")
	broker1 := deb("tether-broker", brokerBin, "1.0.0")

	// The package's own listing: owners and modes as shipped.
	listing := run(t, "dpkg-deb", "--contents", agent1)
	for _, want := range []string{
		"-rwxr-xr-x root/root", "./usr/bin/tether-agent",
		"-rw-r--r-- root/root", "./lib/systemd/system/tether-agent.service", "./etc/tether/agent.yaml",
	} {
		if !strings.Contains(listing, want) {
			t.Errorf("agent package listing lacks %q:\n%s", want, listing)
		}
	}

	// Install both.
	run(t, "dpkg", "--install", agent1, broker1)
	for _, p := range []string{"tether-agent", "tether-broker"} {
		if st := dpkgStatus(p); st != "install ok installed" {
			t.Fatalf("%s after install: status %q", p, st)
		}
	}
	run(t, "getent", "passwd", "tether")
	checkMode(t, "/usr/bin/tether-agent", 0o755, "root", "root")
	checkMode(t, "/usr/bin/tether-broker", 0o755, "root", "root")
	checkMode(t, "/etc/tether", 0o750, "root", "tether")
	checkMode(t, "/etc/tether/agent.yaml", 0o644, "root", "root")
	checkMode(t, "/etc/tether/broker.yaml", 0o644, "root", "root")
	checkMode(t, "/var/lib/tether/agent", 0o700, "tether", "tether")
	checkMode(t, "/var/lib/tether/broker", 0o700, "tether", "tether")
	for _, unit := range []string{"tether-agent.service", "tether-broker.service"} {
		path := filepath.Join("/lib/systemd/system", unit)
		checkMode(t, path, 0o644, "root", "root")
		if out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
		if score := exposure(t, path); score > maxExposure {
			t.Errorf("%s: systemd-analyze security scores %.1f, want ≤ %.1f", unit, score, maxExposure)
		} else {
			t.Logf("%s: exposure %.1f", unit, score)
		}
	}
	unit, _ := os.ReadFile("/lib/systemd/system/tether-agent.service")
	for _, want := range []string{"ExecStart=/usr/bin/tether-agent ", "User=tether", "StateDirectory=tether/agent", "TimeoutStopSec=45"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("installed agent unit lacks %q", want)
		}
	}

	t.Logf("installed tether-agent 1.0.0 and tether-broker 1.0.0: user tether, files and modes as shipped, units verified")

	// Upgrade, with the operator's edit to the conffile kept.
	f, err := os.OpenFile("/etc/tether/agent.yaml", os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	const edit = "# edited by the operator\n"
	if _, err := f.WriteString(edit); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile("/var/lib/tether/agent/marker", []byte("state"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "dpkg", "--install", agent2)
	if v := strings.TrimSpace(run(t, "dpkg-query", "-W", "-f=${Version}", "tether-agent")); v != "1.0.1" {
		t.Errorf("after upgrade: version %q, want 1.0.1", v)
	}
	if b, _ := os.ReadFile("/etc/tether/agent.yaml"); !strings.HasSuffix(string(b), edit) {
		t.Error("upgrade replaced the operator's agent.yaml")
	}
	mustExist(t, "/var/lib/tether/agent/marker", true)
	t.Logf("upgraded tether-agent to 1.0.1: the operator's agent.yaml and the agent's data kept")

	// Remove keeps configuration and data; purge deletes them.
	run(t, "dpkg", "--remove", "tether-agent")
	if st := dpkgStatus("tether-agent"); st != "deinstall ok config-files" {
		t.Errorf("after remove: status %q", st)
	}
	mustExist(t, "/usr/bin/tether-agent", false)
	mustExist(t, "/lib/systemd/system/tether-agent.service", false)
	mustExist(t, "/etc/tether/agent.yaml", true)
	mustExist(t, "/var/lib/tether/agent/marker", true)

	t.Logf("removed tether-agent: binary and unit gone, agent.yaml and data kept")

	run(t, "dpkg", "--purge", "tether-agent")
	if st := dpkgStatus("tether-agent"); st != "" {
		t.Errorf("after purge: status %q, want not installed", st)
	}
	mustExist(t, "/etc/tether/agent.yaml", false)
	mustExist(t, "/var/lib/tether/agent", false)
	mustExist(t, "/var/lib/tether/broker", true) // the other package's data stays
	mustExist(t, "/usr/bin/tether-broker", true)

	t.Logf("purged tether-agent: its configuration and data gone, tether-broker's kept")

	run(t, "dpkg", "--purge", "tether-broker")
	mustExist(t, "/var/lib/tether", false)
	mustExist(t, "/etc/tether/broker.yaml", false)
	t.Logf("purged tether-broker: /var/lib/tether and /etc/tether/broker.yaml gone")
}

// TestShippedUnitsExposure scores the hand-install units in deploy/systemd.
func TestShippedUnitsExposure(t *testing.T) {
	testenv.RequireTool(t, "systemd-analyze")
	root := testenv.ModuleRoot(t)
	for _, unit := range []string{"tether-agent.service", "tether-broker.service"} {
		if score := exposure(t, filepath.Join(root, "deploy/systemd", unit)); score > maxExposure {
			t.Errorf("deploy/systemd/%s: exposure %.1f, want ≤ %.1f", unit, score, maxExposure)
		}
	}
}

var overall = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// exposure is systemd-analyze's overall exposure score of a unit file.
func exposure(t *testing.T, path string) float64 {
	t.Helper()
	out, _ := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", path).CombinedOutput()
	m := overall.FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security %s printed no score:\n%s", path, out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dpkgStatus is dpkg's status of a package, "" when dpkg does not know it.
func dpkgStatus(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output()
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(out))
	if s == "unknown ok not-installed" {
		return ""
	}
	return s
}

func checkMode(t *testing.T, path string, mode os.FileMode, user, group string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if got := st.Mode().Perm(); got != mode {
		t.Errorf("%s: mode %o, want %o", path, got, mode)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if got := name("passwd", sys.Uid); got != user {
		t.Errorf("%s: owner %s, want %s", path, got, user)
	}
	if got := name("group", sys.Gid); got != group {
		t.Errorf("%s: group %s, want %s", path, got, group)
	}
}

// name looks an id up in the passwd or group database.
func name(db string, id uint32) string {
	out, err := exec.Command("getent", db, strconv.FormatUint(uint64(id), 10)).Output()
	if err != nil {
		return strconv.FormatUint(uint64(id), 10)
	}
	return strings.SplitN(string(out), ":", 2)[0]
}

func mustExist(t *testing.T, path string, want bool) {
	t.Helper()
	_, err := os.Stat(path)
	if got := err == nil; got != want {
		t.Errorf("%s: exists %v, want %v", path, got, want)
	}
}
