package loadgen

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/pkg/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// brokerBinary builds tether-broker once per test process: the scheduler
// under load runs as the real binary, outside the race detector.
func brokerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tether-loadgen-bin")
		if err != nil {
			t.Fatal(err)
		}
		binDir = dir
		binPath = testenv.Build(t, dir, "./broker", "tether-broker", "", "", "")
	})
	if binPath == "" {
		t.Fatal("tether-broker was not built")
	}
	return binPath
}

// region is a scheduler with its embedded broker, started as the real
// binary, with n node users.
type region struct {
	addr    string
	pid     int
	nodes   []Credential
	monitor Credential
	log     *strings.Builder
}

func startRegion(t *testing.T, n int) *region {
	t.Helper()
	bin := brokerBinary(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	// The stream checker connects as the scheduler's user: the embedded
	// broker waits for a scheduler's persistent session, not a
	// monitor's, and the checker must get every acknowledged message.
	r := &region{monitor: Credential{"tether-scheduler", "sched-pw"}, log: &strings.Builder{}}
	users := []mqttd.User{{Name: "tether-scheduler", Password: "sched-pw"}, {Name: "monitor", Password: "monitor-pw"}}
	for i := range n {
		c := Credential{User: fmt.Sprintf("lg-%05d", i), Password: fmt.Sprintf("pw-%d", i)}
		r.nodes = append(r.nodes, c)
		users = append(users, mqttd.User{Name: c.User, Password: c.Password})
	}
	if _, err := mqttd.SetUsers(creds, users); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "sched.pw"), []byte("sched-pw\n"), 0o600)
	// Every simulated node connects from 127.0.0.1: a fleet's nodes have
	// addresses of their own.
	os.WriteFile(filepath.Join(dir, "broker.yaml"), []byte("embedded:\n  max_unauthenticated_per_address: -1\n"), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--config", filepath.Join(dir, "broker.yaml"), "--listen", r.addr, "--credentials-file", creds,
		"--password-file", filepath.Join(dir, "sched.pw"), "--tasks-dir", filepath.Join(dir, "tasks"), "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = r.log, r.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.pid = cmd.Process.Pid
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("scheduler log (last 4 KB):\n%s", tail(r.log.String(), 4096))
		}
	})
	listening := func() bool { // a real process starting: its listener is the sign
		c, err := net.Dial("tcp", r.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	if !testenv.Within(30*time.Second, listening) {
		t.Fatalf("scheduler not listening on %s after 30 s:\n%s", r.addr, r.log.String())
	}
	return r
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// run runs a generator over the region and fails the test on any loss.
func (r *region) run(t *testing.T, o Options) Result {
	t.Helper()
	o.Broker, o.Nodes, o.Monitor = r.addr, r.nodes, r.monitor
	o.Watch = map[string]int{"scheduler": r.pid}
	o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res.Label = "embedded"
	var b strings.Builder
	WriteTable(&b, []Result{res})
	t.Logf("\n%s", b.String())
	return res
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
