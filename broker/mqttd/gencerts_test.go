package mqttd

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tether-edge/tether/pkg/testenv"
)

// TestGenCertsScript runs scripts/gen-certs.sh and serves mTLS with what it
// made. It needs bash and openssl; the package's other TLS tests make their
// certificates in Go and need neither.
func TestGenCertsScript(t *testing.T) {
	testenv.RequireTool(t, "bash")
	testenv.RequireTool(t, "openssl")
	dir := filepath.Join(t.TempDir(), "certs")
	run := func() {
		t.Helper()
		cmd := exec.Command("bash", "../../scripts/gen-certs.sh", dir, "broker.example.net", "192.0.2.7")
		cmd.Env = append(os.Environ(), "CLIENTS=node-a")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gen-certs.sh: %v\n%s", err, out)
		}
	}
	run()
	first, _ := os.ReadFile(filepath.Join(dir, "server.crt"))
	run()
	if again, _ := os.ReadFile(filepath.Join(dir, "server.crt")); string(again) != string(first) {
		t.Error("second run replaced the server certificate")
	}
	if fi, err := os.Stat(filepath.Join(dir, "ca.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ca.key: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}

	opts := testOptions(t)
	opts.Addr, opts.TLSAddr = "", "127.0.0.1:0"
	opts.CertFile, opts.KeyFile, opts.ClientCAFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), filepath.Join(dir, "ca.crt")
	s := startServer(t, opts)

	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	for _, name := range []string{"client", "node-a"} {
		cert, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		for _, server := range []string{"localhost", "127.0.0.1", "broker.example.net", "192.0.2.7"} {
			conf := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, ServerName: server}
			if _, err := dialWith(t, s.TLSAddr().String(), dialOpts{user: "node-a", password: password("node-a"), clientID: "node-a", tls: conf}); err != nil {
				t.Errorf("%s cert, server name %s: %v", name, server, err)
			}
		}
	}
}
