package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/testenv"
)

// startMosquitto runs Mosquitto 2 with the shipped deploy/mosquitto
// configuration and ACL, moved onto the site's port and a temporary
// directory: what an operator who runs their own broker gets.
func startMosquitto(t *testing.T, s *site) *proc {
	t.Helper()
	bin := testenv.RequireTool(t, "mosquitto")
	root := testenv.ModuleRoot(t)
	conf, err := os.ReadFile(filepath.Join(root, "deploy/mosquitto/mosquitto.conf"))
	if err != nil {
		t.Fatal(err)
	}
	acl, err := os.ReadFile(filepath.Join(root, "deploy/mosquitto/tether.acl"))
	if err != nil {
		t.Fatal(err)
	}
	aclPath := filepath.Join(s.dir, "tether.acl")
	aclText := strings.NewReplacer("${REGION}", "default", "${SCHEDULER_USER}", "tether-scheduler",
		"${MONITOR_USER}", "monitor", "${OPERATOR_USER}", "operator").Replace(string(acl))
	if err := os.WriteFile(aclPath, []byte(aclText), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(conf)))
lines:
	for sc.Scan() {
		line := sc.Text()
		key, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch key {
		case "listener":
			break lines // the shipped listeners are replaced below
		case "password_file":
			line = "password_file " + s.creds
		case "acl_file":
			line = "acl_file " + aclPath
		case "persistence_location":
			line = "persistence_location " + s.dir + "/"
		}
		out.WriteString(line + "\n")
	}
	// Root keeps root rather than dropping to the mosquitto user, who
	// could not read the test's private temporary directory.
	fmt.Fprintf(&out, "user root\nlistener %d 127.0.0.1\nuse_username_as_clientid true\n", s.port)
	confPath := filepath.Join(s.dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(out.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	p := s.start("mosquitto", bin, "-c", confPath)
	s.waitPort()
	return p
}

// TestSchedulerAndAgentsOverMosquitto runs the scheduler against an
// external Mosquitto 2 (--mqtt-url, nothing embedded) with the shipped
// config and ACL: agents appear online with metrics, a killed agent's will
// takes it offline, a stopped one says goodbye.
func TestSchedulerAndAgentsOverMosquitto(t *testing.T) {
	s := newSite(t)
	s.addUser("pi-a") // before the start: Mosquitto reads its password file once
	s.addUser("pi-b")
	startMosquitto(t, s)
	s.start("tether-broker serve (external)", s.broker, "serve", "--mqtt-url", s.url(),
		"--password-file", filepath.Join(s.dir, "tether-scheduler.pw"), "--log-level", "debug")
	a := s.startAgent("pi-a")
	b := s.startAgent("pi-b")
	took := s.waitFleet(5*time.Second, "agents online through Mosquitto", func(n map[string]protocol.FleetNode) bool {
		return n["pi-a"].Online && n["pi-b"].Online && n["pi-a"].CPU != nil && n["pi-b"].CPU != nil
	})
	t.Logf("both agents online through Mosquitto after %v", took.Round(time.Millisecond))
	a.signal(syscall.SIGKILL)
	took = s.waitFleet(6*time.Second, "killed agent offline", func(n map[string]protocol.FleetNode) bool {
		return !n["pi-a"].Online && n["pi-a"].Reason == protocol.ReasonLost
	})
	t.Logf("SIGKILL: offline (will) after %v", took.Round(time.Millisecond))
	b.signal(syscall.SIGTERM)
	took = s.waitFleet(time.Second, "stopped agent offline", func(n map[string]protocol.FleetNode) bool {
		return !n["pi-b"].Online && n["pi-b"].Reason == protocol.ReasonShutdown
	})
	t.Logf("SIGTERM: offline (goodbye) after %v", took.Round(time.Millisecond))
}

// TestSchedulerRestartWithoutRetainedBirth restarts the scheduler in front
// of a persistent broker after a node's retained birth is gone (as when a
// broker caps the retained burst a new subscriber gets): the node is
// rediscovered from its next report, asked for a rebirth, and shown with
// its facts again.
func TestSchedulerRestartWithoutRetainedBirth(t *testing.T) {
	s := newSite(t)
	s.addUser("pi-a")
	startMosquitto(t, s)
	serve := func() *proc {
		return s.start("tether-broker serve (external)", s.broker, "serve", "--mqtt-url", s.url(),
			"--password-file", filepath.Join(s.dir, "tether-scheduler.pw"), "--log-level", "debug")
	}
	sched := serve()
	s.startAgent("pi-a", "--heartbeat", "2s")
	s.waitFleet(5*time.Second, "agent online", func(n map[string]protocol.FleetNode) bool { return n["pi-a"].Arch != "" })

	sched.signal(syscall.SIGTERM)
	if err := sched.wait(t, 5*time.Second); err != nil {
		t.Fatalf("scheduler did not stop cleanly: %v", err)
	}
	// Its goodbye is retained by the broker that outlives it: `nodes`
	// still prints the last table, and says the scheduler is gone.
	out, err := exec.Command(s.broker, "nodes", "--broker", s.url(), "--password-file", filepath.Join(s.dir, "monitor.pw")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "the scheduler is offline (shutdown") || !strings.Contains(string(out), "pi-a") {
		t.Fatalf("nodes with the scheduler stopped: %v\n%s", err, out)
	}
	// While the scheduler is away, the node's retained birth disappears:
	// an empty retained message deletes it [MQTT-3.3.1-10]. (Sent with the
	// scheduler's identity: with the node's, the broker would hand the
	// node's session to mosquitto_pub and the agent would reconnect with a
	// fresh birth.)
	out, err = exec.Command(testenv.RequireTool(t, "mosquitto_pub"), "-h", "127.0.0.1", "-p", strconv.Itoa(s.port),
		"-u", "tether-scheduler", "-P", s.password("tether-scheduler"), "-t", "tether/v1/default/nodes/pi-a/status", "-r", "-n", "-q", "1").CombinedOutput()
	if err != nil {
		t.Fatalf("clearing the retained birth: %v\n%s", err, out)
	}
	s.fleetSince = time.Now().Truncate(time.Millisecond)
	sched = serve()
	took := s.waitFleet(10*time.Second, "node rediscovered with its facts", func(n map[string]protocol.FleetNode) bool {
		return n["pi-a"].Online && n["pi-a"].Arch != ""
	})
	t.Logf("rediscovered with facts %v after the restart", took.Round(time.Millisecond))
	if !strings.Contains(sched.out.String(), "command=rebirth") {
		t.Fatal("the scheduler did not ask for a rebirth")
	}
}

// TestTasksOverMosquitto runs a task end to end through an external
// Mosquitto 2 with the shipped ACL: the operator submits with the CLI and
// follows the task, the scheduler signs the assignment onto the node's
// command topic, the agent's events come back on its tasks topic, and the
// retained status and the reply reach the operator.
func TestTasksOverMosquitto(t *testing.T) {
	s := newTaskSite(t)
	s.addUser("pi-m")
	startMosquitto(t, s.site)
	s.start("tether-broker serve (external)", s.broker, "serve", "--mqtt-url", s.url(),
		"--password-file", filepath.Join(s.dir, "tether-scheduler.pw"), "--signing-key-file", s.key, "--log-level", "debug")
	s.startAgent("pi-m")
	s.waitFleet(10*time.Second, "agent online through Mosquitto", func(n map[string]protocol.FleetNode) bool { return n["pi-m"].Online })
	spec := filepath.Join(s.dir, "task.yaml")
	os.WriteFile(spec, []byte("id: over-mosquitto\nkind: builtin\nbuiltin: {name: cpu, units: 50, unit_ms: 5}\ncheckpointable: true\n"), 0o600)
	out, errOut, err := s.cli("submit", "-f", spec, "--wait", "--timeout", "10s")
	if err != nil || !strings.Contains(out, "output: ") {
		t.Fatalf("submit --wait through Mosquitto: %v\n%s%s", err, out, errOut)
	}
	t.Logf("%s", strings.TrimSpace(errOut))

	// Task data both ways through Mosquitto's ACL (deploy/mosquitto): an
	// upload on the operator's blob topic, the agent's fetch and its
	// output on the node's, the download on the operator's again.
	data := []byte("frames from a camera\n")
	in := filepath.Join(s.dir, "in.bin")
	os.WriteFile(in, data, 0o600)
	hashSpec := filepath.Join(s.dir, "hash.yaml")
	os.WriteFile(hashSpec, []byte("id: data-over-mosquitto\nkind: builtin\nbuiltin: {name: sha256}\noutputs: [sha256]\n"), 0o600)
	if out, errOut, err := s.cli("submit", "-f", hashSpec, "--input", "data="+in, "--wait", "--timeout", "10s"); err != nil {
		t.Fatalf("submit --input through Mosquitto: %v\n%s%s", err, out, errOut)
	}
	h := sha256.Sum256(data)
	want := hex.EncodeToString(h[:]) + "  data\n"
	if out, errOut, err := s.cli("task", "data-over-mosquitto", "--output", "sha256", "-o", "-", "--timeout", "10s"); err != nil || out != want {
		t.Fatalf("task --output through Mosquitto: %q %v, want %q\n%s", out, err, want, errOut)
	}
}
