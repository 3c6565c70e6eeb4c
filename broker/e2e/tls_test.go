package e2e

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestAgentOverMutualTLS makes a development PKI with scripts/gen-certs.sh,
// runs the scheduler with a TLS listener that requires client certificates,
// and an agent that connects with tls:// and its certificate: it is online
// with metrics. An agent without a client certificate is refused.
func TestAgentOverMutualTLS(t *testing.T) {
	testenv.RequireTool(t, "openssl")
	s := newSite(t)
	certs := filepath.Join(s.dir, "certs")
	cmd := exec.Command(filepath.Join(testenv.ModuleRoot(t), "scripts/gen-certs.sh"), certs)
	cmd.Env = append(cmd.Environ(), "CLIENTS=pi-tls")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen-certs.sh: %v\n%s", err, out)
	}
	tlsPort := freePort(t)
	s.startScheduler("--tls-listen", "127.0.0.1:"+strconv.Itoa(tlsPort),
		"--tls-cert-file", filepath.Join(certs, "server.crt"), "--tls-key-file", filepath.Join(certs, "server.key"),
		"--client-ca-file", filepath.Join(certs, "ca.crt"))
	url := "tls://localhost:" + strconv.Itoa(tlsPort)
	s.startAgent("pi-tls", "--broker", url, "--tls-ca", filepath.Join(certs, "ca.crt"),
		"--tls-cert", filepath.Join(certs, "pi-tls.crt"), "--tls-key", filepath.Join(certs, "pi-tls.key"))
	nocert := s.startAgent("pi-nocert", "--broker", url, "--tls-ca", filepath.Join(certs, "ca.crt"))
	took := s.waitFleet(10*time.Second, "agent online over mTLS", func(n map[string]protocol.FleetNode) bool {
		return n["pi-tls"].Online && n["pi-tls"].CPU != nil
	})
	t.Logf("agent online over mutual TLS after %v", took.Round(time.Millisecond))
	if !testenv.Within(5*time.Second, func() bool { return strings.Contains(nocert.out.String(), "mqtt connect failed") }) {
		t.Fatalf("the agent without a client certificate was not refused:\n%s", nocert.out.String())
	}
	f, err := s.nodes()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range f.Nodes {
		if n.Node == "pi-nocert" {
			t.Fatalf("an agent without a client certificate got in: %+v\n%s", n, nocert.out.String())
		}
	}
}
