package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestEnrolmentOverMosquitto: zero-touch enrolment with the scheduler
// behind an external Mosquitto 2. A site token made with the real
// `tether-broker enrol` (its identity in Mosquitto's password file, its
// block in the ACL as docs/security.md says); an agent with only the token
// enrols, the scheduler writes its password into Mosquitto's password file
// and runs enrol.reload_command (a SIGHUP to Mosquitto), and the agent
// then connects as itself and comes online. A second agent with the used-up
// token pends.
func TestEnrolmentOverMosquitto(t *testing.T) {
	s := newSite(t)
	enrolFile := filepath.Join(s.dir, "enrol.json")
	out, err := exec.Command(s.broker, "enrol", "-f", enrolFile, "--credentials", s.creds, "token", "create", "--count", "1").Output()
	if err != nil {
		t.Fatalf("enrol token create: %v", err)
	}
	token := strings.TrimSpace(string(out))
	id, _, ok := strings.Cut(token, ".")
	if !ok {
		t.Fatalf("token %q", token)
	}
	mosq := startMosquitto(t, s)
	acl, err := os.OpenFile(filepath.Join(s.dir, "tether.acl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(acl, "\nuser enrol-%s\ntopic write tether/v1/default/enrol/+/request\ntopic read tether/v1/default/enrol/+/reply\n", id)
	if err := acl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := mosq.cmd.Process.Signal(syscall.SIGHUP); err != nil { // the ACL block, as an operator reloads after editing it
		t.Fatal(err)
	}
	conf := filepath.Join(s.dir, "broker.yaml")
	yaml := fmt.Sprintf("enrol:\n  file: %s\n  credentials_file: %s\n  reload_command: [kill, -HUP, %q]\n",
		enrolFile, s.creds, strconv.Itoa(mosq.cmd.Process.Pid))
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	sched := s.start("tether-broker serve (external)", s.broker, "serve", "--config", conf, "--mqtt-url", s.url(),
		"--password-file", filepath.Join(s.dir, "tether-scheduler.pw"), "--log-level", "debug")

	s.startEnrolling("pi-e1", token)
	took := s.waitFleet(45*time.Second, "the enrolled agent online as itself", func(n map[string]protocol.FleetNode) bool {
		return n["pi-e1"].Online
	})
	t.Logf("pi-e1 enrolled through Mosquitto and online after %v", took.Round(time.Millisecond))
	pw, err := os.ReadFile(filepath.Join(s.dir, "data-pi-e1", "agent.pw"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := mqttd.LoadCredentials(s.creds)
	if err != nil || !c.Verify("pi-e1", strings.TrimSpace(string(pw))) {
		t.Fatalf("pi-e1's password is not in Mosquitto's password file: %v", err)
	}

	s.startEnrolling("pi-e2", token) // the token's one use is spent
	if !testenv.Within(20*time.Second, func() bool { return strings.Contains(sched.out.String(), `node=pi-e2 outcome=pending`) }) {
		t.Fatalf("a second enrolment with a used-up token did not pend; scheduler log:\n%s", lastLines(sched.out.String(), 20))
	}
	if c, _ := mqttd.LoadCredentials(s.creds); c.Has("pi-e2") {
		t.Error("pi-e2 was written into the password file with a used-up token")
	}
}

// startEnrolling runs an agent that has only a site token: no password.
func (s *site) startEnrolling(node, token string) *proc {
	s.t.Helper()
	data := filepath.Join(s.dir, "data-"+node)
	tokenFile := filepath.Join(s.dir, node+".token")
	if err := os.MkdirAll(data, 0o700); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	cfg := filepath.Join(s.dir, node+".yaml")
	yaml := fmt.Sprintf("enrol:\n  token_file: %s\n  retry: 2s\n", tokenFile)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return s.start("agent "+node, s.agent, "--config", cfg, "--node", node, "--data-dir", data, "--broker", s.url(),
		"--sample-interval", "500ms", "--keepalive", "5s", "--log-level", "debug")
}
