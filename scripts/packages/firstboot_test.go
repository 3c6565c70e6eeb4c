package packages_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-edge/tether/pkg/testenv"
)

// TestFirstBoot runs deploy/pi/firstboot.sh as a device's first boot
// would, from a boot-partition folder holding the amd64 agent package, a
// site token, tether.env and a CA: the package is installed, agent.yaml
// pins the node id, the brokers and the scheduler's key and enrols with
// the token, the token leaves the boot partition for /etc/tether readable
// by the agent's user only, the agent reads the configuration back, and a
// second run changes nothing. A tether.env with an unknown key or no
// broker is refused before anything is installed. It installs into this
// machine's root, so it needs root; CI runs as root.
func TestFirstBoot(t *testing.T) {
	for _, tool := range []string{"dpkg", "dpkg-deb", "useradd", "sh"} {
		testenv.RequireTool(t, tool)
	}
	if os.Geteuid() != 0 {
		if testenv.InCI() {
			t.Fatal("installing packages needs root; CI runs as root")
		}
		t.Skip("installing packages needs root")
	}
	if st := dpkgStatus("tether-agent"); st != "" {
		t.Fatalf("tether-agent is already installed on this machine (%s); this test would replace it", st)
	}
	t.Cleanup(func() {
		_ = exec.Command("dpkg", "--purge", "tether-agent").Run()
		_ = os.Remove("/var/lib/tether/agent/firstboot.done")
		_ = os.Remove("/etc/tether/site.token")
		_ = os.Remove("/etc/tether/ca.crt")
		_ = os.Remove("/etc/tether/agent.yaml.dpkg-firstboot")
	})

	root := testenv.ModuleRoot(t)
	dir := t.TempDir()
	bin := testenv.Build(t, dir, "./agent", "tether-agent", "linux", "amd64", "")
	boot := filepath.Join(dir, "boot", "tether")
	if err := os.MkdirAll(boot, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "scripts/package-deb.sh"), "tether-agent", "amd64", bin, "1.0.0", boot)
	cmd.Env = append(os.Environ(), "DEB_COMPRESSION=gzip")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("package-deb.sh: %v\n%s", err, out)
	}
	const token = "tether-site-abc.0123456789abcdef0123456789abcdef"
	const key = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE="
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(boot, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	firstboot := func() (string, error) {
		cmd := exec.Command("sh", filepath.Join(root, "deploy/pi/firstboot.sh"))
		cmd.Env = append(os.Environ(), "TETHER_BOOT="+boot)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	write("site.token", token+"\n")
	write("ca.crt", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")

	// Refused before anything is installed.
	for _, env := range []string{"BROKER=tls://s.example:8883\nSCHEDULER_KEY=" + key + "\nPASSWORD=x\n", "SCHEDULER_KEY=" + key + "\n"} {
		write("tether.env", env)
		if out, err := firstboot(); err == nil {
			t.Fatalf("tether.env %q accepted:\n%s", env, out)
		}
		if st := dpkgStatus("tether-agent"); st != "" {
			t.Fatalf("a refused tether.env installed the package (%s)", st)
		}
	}

	// A Windows editor's line ends, a quoted value, a comment.
	write("tether.env", "# site greenhouse\r\nBROKER=\"tls://s.example:8883 tcp://s2.example:1883\"\r\nSCHEDULER_KEY="+key+"\r\nREGION=eu-1\r\n")
	out, err := firstboot()
	if err != nil {
		t.Fatalf("firstboot.sh: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if st := dpkgStatus("tether-agent"); st != "install ok installed" {
		t.Fatalf("after firstboot.sh: tether-agent status %q", st)
	}
	node := nodeID(t)
	conf, err := os.ReadFile("/etc/tether/agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`- "tls://s.example:8883"`, `- "tcp://s2.example:1883"`, `region: "eu-1"`, `node_id: "` + node + `"`,
		"token_file: /etc/tether/site.token", "password_file: /var/lib/tether/agent/agent.pw", "ca_file: /etc/tether/ca.crt",
		`- "` + key + `"`, "data_dir: /var/lib/tether/agent"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("agent.yaml lacks %q:\n%s", want, conf)
		}
	}
	// The agent reads it back: the pinned id, not one derived again.
	if got := nodeID(t, "--config", "/etc/tether/agent.yaml"); got != node {
		t.Errorf("the agent reads node id %q from the written agent.yaml, want %q", got, node)
	}
	checkMode(t, "/etc/tether/site.token", 0o640, "root", "tether")
	if b, _ := os.ReadFile("/etc/tether/site.token"); strings.TrimSpace(string(b)) != token {
		t.Errorf("/etc/tether/site.token holds %q", b)
	}
	mustExist(t, filepath.Join(boot, "site.token"), false)
	mustExist(t, "/etc/tether/agent.yaml.dpkg-firstboot", true)
	mustExist(t, "/var/lib/tether/agent/firstboot.done", true)

	// Run again: nothing changes.
	out, err = firstboot()
	if err != nil || !strings.Contains(out, "nothing to do") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if again, _ := os.ReadFile("/etc/tether/agent.yaml"); string(again) != string(conf) {
		t.Errorf("a second run changed agent.yaml")
	}
}

// nodeID is the installed agent's --print-node-id (its stdout; the log
// goes to stderr).
func nodeID(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("/usr/bin/tether-agent", append(args, "--print-node-id")...).Output()
	if err != nil {
		t.Fatalf("tether-agent --print-node-id: %v", err)
	}
	return strings.TrimSpace(string(out))
}
