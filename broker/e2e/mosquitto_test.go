package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
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
		"${MONITOR_USER}", "monitor").Replace(string(acl))
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
