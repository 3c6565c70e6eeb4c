package packages_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestProvisionOverSSH runs deploy/pi/provision.sh as an operator would,
// over real SSH: an OpenSSH server on loopback with its own host key, a
// client key and a pinned known_hosts (SSH_CONFIG), and this machine as
// the device (it installs into /usr/local/bin and /etc/tether, so it
// needs root; CI runs as root). The first run installs the agent built
// for the device's architecture, a config that pins the node id the agent
// derives, the brokers and the scheduler's public key, and a root-only
// password the scheduler's credentials file accepts. A second run keeps
// the device's agent.yaml (the new one beside it), keeps the node id and
// changes the password: the old one is refused, the new one accepted. A
// run with TOKEN= installs the site token root-only and makes no
// credentials.
func TestProvisionOverSSH(t *testing.T) {
	sshd := testenv.RequireTool(t, "sshd", "/usr/sbin/sshd")
	for _, tool := range []string{"ssh", "scp", "ssh-keygen", "sudo", "bash"} {
		testenv.RequireTool(t, tool)
	}
	if os.Geteuid() != 0 {
		if testenv.InCI() {
			t.Fatal("provisioning this machine as a device needs root; CI runs as root")
		}
		t.Skip("provisioning this machine as a device needs root")
	}
	for _, p := range []string{"/etc/tether/agent.yaml", "/usr/local/bin/tether-agent", "/etc/systemd/system/tether-agent.service"} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("%s exists on this machine; this test would replace it", p)
		}
	}
	t.Cleanup(func() {
		for _, p := range []string{"/etc/tether/agent.yaml", "/etc/tether/agent.yaml.provisioned", "/etc/tether/agent.pw",
			"/etc/tether/site.token", "/usr/local/bin/tether-agent", "/etc/systemd/system/tether-agent.service",
			"/tmp/tether-agent", "/tmp/tether-agent.service"} {
			_ = os.Remove(p)
		}
		_ = os.Remove("/etc/tether") // only when empty: something else may keep files there
	})

	root := testenv.ModuleRoot(t)
	dir := t.TempDir()
	dist := filepath.Join(dir, "dist")
	testenv.Build(t, filepath.Join(dist, "linux_amd64"), "./agent", "tether-agent", "linux", "amd64", "")
	broker := testenv.Build(t, dir, "./broker", "tether-broker", "", "", "")
	key := filepath.Join(dir, "scheduler.key")
	run(t, broker, "keygen", "-o", key)
	pub := strings.TrimSpace(run(t, broker, "keygen", "--public", key))
	creds := filepath.Join(dir, "credentials")

	sshConfig := startSSHD(t, sshd, dir)
	provision := func(extra ...string) (string, error) {
		cmd := exec.Command("bash", filepath.Join(root, "deploy/pi/provision.sh"), "device", "tcp://scheduler.example:1883")
		cmd.Env = append(os.Environ(), "SSH_CONFIG="+sshConfig, "DIST="+dist, "BROKER="+broker,
			"SIGNING_KEY="+key, "CREDENTIALS="+creds, "REGION=greenhouse")
		cmd.Env = append(cmd.Env, extra...)
		cmd.Stdin = nil
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := provision()
	if err != nil {
		t.Fatalf("provision.sh: %v\n%s", err, out)
	}
	t.Logf("first run:\n%s", out)
	node := agentNodeID(t)
	if !strings.Contains(out, "device is node "+node+" (linux_amd64)") || !strings.Contains(out, "does not run systemd") {
		t.Errorf("provision.sh's report lacks the node, the target or the missing init:\n%s", out)
	}
	conf, err := os.ReadFile("/etc/tether/agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"brokers: [tcp://scheduler.example:1883]", "region: greenhouse", `node_id: "` + node + `"`,
		"password_file: /etc/tether/agent.pw", "- " + pub} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("agent.yaml lacks %q:\n%s", want, conf)
		}
	}
	if got := agentNodeID(t, "--config", "/etc/tether/agent.yaml"); got != node {
		t.Errorf("the installed agent reads node id %q from agent.yaml, want %q", got, node)
	}
	checkMode(t, "/usr/local/bin/tether-agent", 0o755, "root", "root")
	checkMode(t, "/etc/tether/agent.pw", 0o600, "root", "root")
	mustExist(t, "/etc/systemd/system/tether-agent.service", true)
	first := password(t)
	if !verify(t, creds, node, first) {
		t.Fatalf("the password installed on the device is not the one the scheduler's credentials accept")
	}

	// Again: the device's config is kept, the id too; the password changes.
	out, err = provision()
	if err != nil {
		t.Fatalf("second provision.sh: %v\n%s", err, out)
	}
	if again, _ := os.ReadFile("/etc/tether/agent.yaml"); !bytes.Equal(again, conf) {
		t.Errorf("a second run changed the device's agent.yaml")
	}
	if p, err := os.ReadFile("/etc/tether/agent.yaml.provisioned"); err != nil || !strings.Contains(string(p), `node_id: "`+node+`"`) {
		t.Errorf("agent.yaml.provisioned: %v\n%s", err, p)
	}
	second := password(t)
	if second == first || verify(t, creds, node, first) || !verify(t, creds, node, second) {
		t.Errorf("after a second run the old password is still accepted or the new one is not (changed: %v)", second != first)
	}

	// With a site token: installed root-only, no credentials made.
	token := filepath.Join(dir, "site.token")
	const tok = "tether-site-abc.0123456789abcdef0123456789abcdef"
	if err := os.WriteFile(token, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(creds)
	if out, err = provision("TOKEN=" + token); err != nil {
		t.Fatalf("provision.sh with TOKEN: %v\n%s", err, out)
	}
	checkMode(t, "/etc/tether/site.token", 0o600, "root", "root")
	if b, _ := os.ReadFile("/etc/tether/site.token"); strings.TrimSpace(string(b)) != tok {
		t.Errorf("/etc/tether/site.token holds %q", b)
	}
	if p, _ := os.ReadFile("/etc/tether/agent.yaml.provisioned"); !strings.Contains(string(p), "token_file: /etc/tether/site.token") {
		t.Errorf("the provisioned config does not enrol with the token:\n%s", p)
	}
	if after, _ := os.ReadFile(creds); !bytes.Equal(after, before) {
		t.Errorf("a run with a site token changed the scheduler's credentials")
	}

	// A missing signing key is refused before the device is touched.
	if out, err = provision("SIGNING_KEY=" + filepath.Join(dir, "absent.key")); err == nil || !strings.Contains(out, "absent.key missing") {
		t.Errorf("a missing signing key: %v\n%s", err, out)
	}
}

// startSSHD starts an OpenSSH server on a free loopback port that lets
// root in with a key made here, and returns an ssh_config naming it
// "device", with its host key pinned.
func startSSHD(t *testing.T, sshd, dir string) string {
	t.Helper()
	d := filepath.Join(dir, "ssh")
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"host", "client"} {
		run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tether-test-"+k, "-f", filepath.Join(d, k))
	}
	clientPub, err := os.ReadFile(filepath.Join(d, "client.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "authorized_keys"), clientPub, 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd refuses to start without its privilege-separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := filepath.Join(d, "sshd_config")
	writeFile(t, conf, fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
`, port, filepath.Join(d, "host"), filepath.Join(d, "authorized_keys"), filepath.Join(d, "sshd.pid")))
	var log bytes.Buffer
	cmd := exec.Command(sshd, "-D", "-e", "-f", conf)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("sshd:\n%s", log.String())
		}
	})
	hostPub, err := os.ReadFile(filepath.Join(d, "host.pub"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(hostPub))
	writeFile(t, filepath.Join(d, "known_hosts"), fmt.Sprintf("[127.0.0.1]:%d %s %s\n", port, f[0], f[1]))
	client := filepath.Join(d, "ssh_config")
	writeFile(t, client, fmt.Sprintf(`Host device
  HostName 127.0.0.1
  Port %d
  User root
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 10
`, port, filepath.Join(d, "client"), filepath.Join(d, "known_hosts")))
	// Up when a login works.
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := exec.Command("ssh", "-F", client, "device", "true").CombinedOutput()
		if err == nil {
			return client
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh to the test sshd: %v\n%s\nsshd:\n%s", err, out, log.String())
		}
		time.Sleep(100 * time.Millisecond) // kept: polling the test's sshd, a real external process
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// agentNodeID is the installed agent's --print-node-id (stdout only).
func agentNodeID(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("/usr/local/bin/tether-agent", append(args, "--print-node-id")...).Output()
	if err != nil {
		t.Fatalf("tether-agent --print-node-id: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// password is the one provision.sh installed on the device.
func password(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/etc/tether/agent.pw")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// verify is whether the scheduler's credentials file accepts user's password.
func verify(t *testing.T, path, user, password string) bool {
	t.Helper()
	c, err := mqttd.LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	return c.Verify(user, password)
}
