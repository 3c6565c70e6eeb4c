package mqttd

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/testenv"
)

// The shipped Mosquitto files, relative to this package.
const (
	mosquittoConf = "../../deploy/mosquitto/mosquitto.conf"
	mosquittoACL  = "../../deploy/mosquitto/tether.acl"
)

// TestACLMosquitto runs the embedded broker's ACL table against a real
// Mosquitto 2 configured by deploy/mosquitto, with a credentials file
// written by AddUser: the shipped config, ACL and password format all work,
// and the two brokers agree where the table says they should.
func TestACLMosquitto(t *testing.T) {
	m := startMosquitto(t)
	runACLTable(t, brokerUnderTest{name: "mosquitto", addr: m.addr})
}

// TestMosquittoTLS checks the shipped TLS listener: mTLS with a client
// certificate from the CA, refused without one.
func TestMosquittoTLS(t *testing.T) {
	m := startMosquitto(t)
	conf := &tls.Config{RootCAs: m.pki.roots, Certificates: []tls.Certificate{m.pki.client}, ServerName: "localhost"}
	if _, err := dialWith(t, m.tlsAddr, dialOpts{user: "node-a", password: "pw-node-a", clientID: "node-a", tls: conf}); err != nil {
		t.Errorf("mTLS connect: %v", err)
	}
	noCert := &tls.Config{RootCAs: m.pki.roots, ServerName: "localhost"}
	if _, err := dialWith(t, m.tlsAddr, dialOpts{user: "node-b", password: "pw-node-b", clientID: "node-b", tls: noCert}); err == nil {
		t.Error("connected without a client certificate")
	}
}

type mosquitto struct {
	addr, tlsAddr string
	pki           *testPKI
}

// startMosquitto starts Mosquitto from the shipped files, rewritten onto
// free loopback ports and a temporary directory, and stops it when the test
// ends. Without Mosquitto the test is skipped, or fails under CI=true.
func startMosquitto(t *testing.T) mosquitto {
	t.Helper()
	bin := testenv.RequireTool(t, "mosquitto")
	dir := t.TempDir()
	pki := newTestPKI(t)
	m := mosquitto{addr: freeAddr(t), tlsAddr: freeAddr(t), pki: pki}

	acl, err := os.ReadFile(mosquittoACL)
	if err != nil {
		t.Fatal(err)
	}
	aclText := strings.NewReplacer("${REGION}", testRegion, "${SCHEDULER_USER}", "scheduler", "${MONITOR_USER}", "monitor", "${OPERATOR_USER}", "operator").Replace(string(acl))
	if strings.Contains(aclText, "${") {
		t.Fatalf("%s has a placeholder the test does not fill", mosquittoACL)
	}
	aclPath := filepath.Join(dir, "tether.acl")
	os.WriteFile(aclPath, []byte(aclText), 0o600)

	conf, err := os.ReadFile(mosquittoConf)
	if err != nil {
		t.Fatal(err)
	}
	ports := []string{m.addr, m.tlsAddr}
	set := map[string]string{
		"password_file":        writeTestCredentials(t),
		"acl_file":             aclPath,
		"persistence_location": dir + "/",
		"certfile":             pki.serverCert,
		"keyfile":              pki.serverKey,
		"cafile":               pki.caFile,
	}
	var out []string
	for _, line := range strings.Split(string(conf), "\n") {
		key, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch {
		case strings.HasPrefix(key, "#") || key == "":
		case key == "listener":
			if len(ports) == 0 {
				t.Fatalf("%s has more listeners than the test knows", mosquittoConf)
			}
			host, port, _ := net.SplitHostPort(ports[0])
			line = "listener " + port + " " + host
			ports = ports[1:]
		case set[key] != "":
			line = key + " " + set[key]
			delete(set, key)
		}
		out = append(out, line)
	}
	if len(ports) > 0 || len(set) > 0 {
		t.Fatalf("%s lacks directives the test rewrites: %d listeners, %v", mosquittoConf, len(ports), set)
	}
	if os.Geteuid() == 0 {
		// As root, Mosquitto would switch to the mosquitto user, which
		// cannot read the test's private temporary files.
		out = append(out, "user root")
	}
	confPath := filepath.Join(dir, "mosquitto.conf")
	os.WriteFile(confPath, []byte(strings.Join(out, "\n")), 0o600)

	logs := &testenv.SyncBuffer{}
	cmd := exec.Command(bin, "-c", confPath)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", logs)
		}
	})

	var dialErr error
	if !testenv.Within(10*time.Second, func() bool {
		select {
		case err := <-exited:
			t.Fatalf("mosquitto exited: %v\n%s", err, logs)
		default:
		}
		c, err := net.DialTimeout("tcp", m.addr, time.Second)
		if err == nil {
			c.Close()
		}
		dialErr = err
		return err == nil
	}) {
		t.Fatalf("mosquitto not accepting on %s after 10s: %v\n%s", m.addr, dialErr, logs)
	}
	return m
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr())
}
