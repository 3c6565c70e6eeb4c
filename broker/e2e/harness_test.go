package e2e

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/testenv"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  string
)

// binaries builds tether-agent and tether-broker once per test process.
func binaries(t testing.TB) (agent, broker string) {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tether-e2e-bin")
		if err != nil {
			buildErr = err.Error()
			return
		}
		binDir = dir
		testenv.Build(t, dir, "./agent", "tether-agent", "", "", "")
		testenv.Build(t, dir, "./broker", "tether-broker", "", "", "")
	})
	if buildErr != "" {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "tether-agent"), filepath.Join(binDir, "tether-broker")
}

// e2eParallel is how many of this package's parallel tests run at once
// unless -test.parallel says otherwise. Most of them wait on processes
// (agents, schedulers, brokers) far more than they compute: at the default
// (GOMAXPROCS, 2 here) the package took 388 s for 253 s of CPU, its
// parallel tests summing 706 s. The NATS-cluster tests take one slot more
// (oneCluster).
const e2eParallel = 4

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", strconv.Itoa(e2eParallel))
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// clusterSlot lets one three-node NATS cluster run at a time: each is
// three JetStream servers and the schedulers and agents on them, and their
// tests measure failover against deadlines.
var clusterSlot = make(chan struct{}, 1)

// oneCluster waits for the cluster slot and holds it until t ends.
func oneCluster(t testing.TB) {
	t.Helper()
	clusterSlot <- struct{}{}
	t.Cleanup(func() { <-clusterSlot })
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// site is one region on loopback: a credentials file, a port and the
// processes started for a test.
type site struct {
	t         testing.TB
	scheduler *proc // the embedded-broker scheduler, once started
	// fleetSince makes waitFleet ignore tables published before it (a
	// retained table outlives the scheduler that published it).
	fleetSince time.Time
	dir        string
	agent      string
	broker     string
	port       int
	host       string // the broker's address for url(); empty: 127.0.0.1
	creds      string
	hash       string // passwd --hash; empty: the default
}

func newSite(t testing.TB) *site {
	t.Helper()
	return newSiteHash(t, "")
}

// newSiteHash is newSite with users' passwords hashed as `passwd --hash`
// says (bcrypt for NATS).
func newSiteHash(t testing.TB, hash string) *site {
	t.Helper()
	agent, broker := binaries(t)
	s := &site{t: t, dir: t.TempDir(), agent: agent, broker: broker, port: freePort(t), hash: hash}
	s.creds = filepath.Join(s.dir, "credentials")
	s.addUser("tether-scheduler")
	s.addUser("monitor")
	return s
}

func (s *site) url() string {
	host := s.host
	if host == "" {
		host = "127.0.0.1"
	}
	return "tcp://" + net.JoinHostPort(host, strconv.Itoa(s.port))
}

// addUser creates a user with the real `tether-broker passwd` and returns
// the file holding its generated password.
func (s *site) addUser(user string) string {
	s.t.Helper()
	args := []string{"passwd", "-f", s.creds}
	if s.hash != "" {
		args = append(args, "--hash", s.hash)
	}
	out, err := exec.Command(s.broker, append(args, "add", user)...).Output()
	if err != nil {
		s.t.Fatalf("passwd add %s: %v", user, err)
	}
	pw := filepath.Join(s.dir, user+".pw")
	if err := os.WriteFile(pw, out, 0o600); err != nil {
		s.t.Fatal(err)
	}
	if s.scheduler != nil {
		s.reload()
	}
	return pw
}

// ensureUser creates user unless it exists and returns its password file.
func (s *site) ensureUser(user string) string {
	s.t.Helper()
	pw := filepath.Join(s.dir, user+".pw")
	if _, err := os.Stat(pw); err == nil {
		return pw
	}
	return s.addUser(user)
}

// reload makes the running scheduler re-read the credentials file, the way
// an operator does after adding a node (SIGHUP), and waits for it.
func (s *site) reload() {
	s.t.Helper()
	const done = "reloaded credentials"
	before := strings.Count(s.scheduler.out.String(), done)
	s.scheduler.signal(syscall.SIGHUP)
	testenv.Eventually(s.t, 5*time.Second, "the scheduler to reload its credentials after SIGHUP", func() bool {
		return strings.Count(s.scheduler.out.String(), done) > before
	})
}

func (s *site) password(user string) string {
	b, err := os.ReadFile(filepath.Join(s.dir, user+".pw"))
	if err != nil {
		s.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// proc is a started binary whose output is kept for the failure report.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testenv.SyncBuffer
	done chan struct{}
	err  error
}

func (s *site) start(name, bin string, args ...string) *proc {
	s.t.Helper()
	return s.startCmd(name, exec.Command(bin, args...))
}

// startCmd is start for a command made elsewhere (in a network namespace).
func (s *site) startCmd(name string, cmd *exec.Cmd) *proc {
	s.t.Helper()
	p := &proc{name: name, cmd: cmd, out: &testenv.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// The scheduler keeps its task store in the site (agents ignore it).
	env := p.cmd.Env
	if env == nil {
		env = os.Environ()
	}
	p.cmd.Env = append(env, "TETHER_TASKS_DIR="+filepath.Join(s.dir, "tasks"))
	if err := p.cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	s.t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
		if s.t.Failed() {
			s.t.Logf("--- output of %s ---\n%s", name, p.out.String())
		}
	})
	return p
}

func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// wait waits for the process to exit and returns its error.
func (p *proc) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		t.Fatalf("%s still running after %v", p.name, within)
		return nil
	}
}

func (s *site) startScheduler(extra ...string) *proc {
	args := append([]string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", s.port), "--credentials-file", s.creds,
		"--password-file", filepath.Join(s.dir, "tether-scheduler.pw"), "--log-level", "debug",
		// The tests read seq and metrics from the fleet rows: refresh them
		// every second instead of holding measurement-only changes a minute.
		"--fleet-row-refresh", "1s", "--fleet-row-idle-refresh", "1s"}, extra...)
	p := s.start("tether-broker serve", s.broker, args...)
	s.waitPort()
	s.scheduler = p
	return p
}

func (s *site) waitPort() {
	s.t.Helper()
	testenv.Eventually(s.t, 10*time.Second, fmt.Sprintf("a listener on port %d", s.port), func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// startAgent runs an agent for node (credentials created here) with a
// fresh data directory.
func (s *site) startAgent(node string, extra ...string) *proc {
	return s.startAgentBinary(s.agent, nil, node, extra...)
}

// startAgentBinary runs bin (through wrapper, e.g. qemu, when set).
func (s *site) startAgentBinary(bin string, wrapper []string, node string, extra ...string) *proc {
	s.t.Helper()
	pw := s.ensureUser(node)
	data := filepath.Join(s.dir, "data-"+node)
	if err := os.MkdirAll(data, 0o700); err != nil {
		s.t.Fatal(err)
	}
	args := []string{"--node", node, "--password-file", pw, "--data-dir", data,
		"--sample-interval", "500ms", "--keepalive", "5s", "--log-level", "debug"}
	if !slices.Contains(extra, "--broker") {
		args = append(args, "--broker", s.url())
	}
	args = append(args, extra...)
	if len(wrapper) > 0 {
		args = append(append(wrapper[1:], bin), args...)
		bin = wrapper[0]
	}
	return s.start("agent "+node, bin, args...)
}

// nodes runs `tether-broker nodes --json` as the monitor.
func (s *site) nodes() (protocol.FleetNodes, error) {
	cmd := exec.Command(s.broker, "nodes", "--json", "--broker", s.url(), "--password-file",
		filepath.Join(s.dir, "monitor.pw"), "--timeout", "2s")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return protocol.FleetNodes{}, fmt.Errorf("nodes: %v: %s", err, stderr.String())
	}
	var f protocol.FleetNodes
	if err := json.Unmarshal(out, &f); err != nil {
		return protocol.FleetNodes{}, fmt.Errorf("nodes output: %v", err)
	}
	return f, nil
}

// waitFleet polls `tether-broker nodes` until ok holds and returns how long
// it took, or fails the test after within.
func (s *site) waitFleet(within time.Duration, what string, ok func(map[string]protocol.FleetNode) bool) time.Duration {
	s.t.Helper()
	start := time.Now()
	var last protocol.FleetNodes
	var lastErr error
	for time.Since(start) < within {
		f, err := s.nodes()
		if err == nil && f.TS.Before(s.fleetSince) {
			err = fmt.Errorf("fleet table of %v is older than %v", f.TS, s.fleetSince)
		}
		if err == nil {
			last = f
			byID := map[string]protocol.FleetNode{}
			for _, n := range f.Nodes {
				byID[n.Node] = n
			}
			if ok(byID) {
				return time.Since(start)
			}
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond) // kept: each look runs the CLI, so not testenv's 5 ms
	}
	s.t.Fatalf("%s: not within %v; last fleet %+v, last error %v", what, within, last, lastErr)
	return 0
}
