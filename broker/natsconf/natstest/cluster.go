// Package natstest starts a real 3-node NATS cluster from the shipped
// deploy/nats/nats.conf, for tests: each node its own nats-server process
// on free loopback ports, with the users and permissions that
// tether-broker natsconf makes from a credentials file. Without
// nats-server the test is skipped, or fails under CI=true.
package natstest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/testenv"
)

// Version is the nats-server the tests run, built from the Go module proxy
// into .cache/bin by scripts/install-deps.sh: NATS 2.9 (Debian 12's package)
// acknowledges an MQTT QoS 1 PUBLISH before JetStream has stored it, and
// loses acknowledged reports when a node dies (docs/scaling.md).
const Version = "v2.15.3"

// Binary returns the path of nats-server Version: TETHER_NATS_SERVER, or
// .cache/bin/nats-server-<Version> under the module root. Missing, the test
// is skipped, or fails under CI=true.
func Binary(t testing.TB) string {
	t.Helper()
	p := os.Getenv("TETHER_NATS_SERVER")
	if p == "" {
		p = filepath.Join(testenv.ModuleRoot(t), ".cache/bin/nats-server-"+Version)
	}
	if _, err := os.Stat(p); err != nil {
		msg := "nats-server " + Version + " is not installed at " + p + "; run scripts/install-deps.sh (make deps)"
		if testenv.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// Nodes is the cluster's size.
const Nodes = 3

// Cluster is a running cluster. Its methods are for the test's goroutine.
type Cluster struct {
	t    testing.TB
	bin  string
	dir  string
	MQTT [Nodes]string // each node's MQTT listener, host:port
	// Client is each node's core-NATS client listener, host:port (the
	// users and permissions are the same as over MQTT).
	Client [Nodes]string
	http   [Nodes]string // each node's monitoring listener (/healthz)
	proc   [Nodes]*node
	hosts  Hosts // nil: loopback
}

type node struct {
	cmd    *exec.Cmd
	exited chan struct{}
	logs   *testenv.SyncBuffer
}

// Start writes each node's configuration from deploy/nats/nats.conf (with
// its listeners moved to free loopback ports) and auth, the users and
// permissions natsconf makes, as its tether-auth.conf; starts the three
// nodes; and waits until every MQTT listener accepts connections and
// JetStream has a metadata leader. The cluster stops when the test ends.
func Start(t testing.TB, region string, auth []byte) *Cluster {
	t.Helper()
	return StartOn(t, region, auth, nil)
}

// Hosts places each node on a host of its own: node i (0-based) is
// NodeName(i), listens on IP(NodeName(i)) with the template's own ports,
// and runs through Command (pkg/testenv/netns's Net is one: a network
// namespace per node, so partitions between nodes are real).
type Hosts interface {
	IP(name string) string
	Command(name, prog string, args ...string) *exec.Cmd
}

// NodeName is node i's name among Hosts: nats-1, nats-2, nats-3.
func NodeName(i int) string { return fmt.Sprintf("nats-%d", i+1) }

// StartOn is Start with each node on its host; nil hosts: every node on
// loopback, on free ports.
func StartOn(t testing.TB, region string, auth []byte, hosts Hosts) *Cluster {
	t.Helper()
	c := &Cluster{t: t, bin: Binary(t), hosts: hosts}
	tmpl, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "deploy/nats/nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The logs first: stop forgets a node's process.
		if t.Failed() {
			for i := range Nodes {
				if n := c.proc[i]; n != nil {
					t.Logf("nats-server n%d log (tail):\n%s", i+1, tail(n.logs.String(), 40))
				}
			}
		}
		c.stopAll()
	})
	// On loopback the ports are found free and then given to the servers:
	// another process can take one in between (the suite starts many
	// clusters at once). A node that could not bind exits; the cluster is
	// then started again on other ports, a few times.
	for attempt := 1; ; attempt++ {
		c.configure(tmpl, region, auth)
		for i := range Nodes {
			c.Start(i)
		}
		err := c.waitAll(30 * time.Second)
		if err == nil {
			return c
		}
		if hosts != nil || attempt == 3 || !c.portTaken() {
			t.Fatal(err)
		}
		t.Logf("natstest: a node's port was taken by another process (attempt %d); starting the cluster on other ports", attempt)
		for i := range Nodes {
			c.stop(i, syscall.SIGKILL)
		}
	}
}

// configure chooses the nodes' addresses (free loopback ports, or the
// hosts' own) and writes each node's configuration into a fresh directory.
func (c *Cluster) configure(tmpl []byte, region string, auth []byte) {
	t := c.t
	c.dir = t.TempDir()
	var routes [Nodes]string
	for i := range Nodes {
		if c.hosts != nil {
			ip := c.hosts.IP(NodeName(i))
			routes[i], c.Client[i], c.MQTT[i], c.http[i] = ip+":6222", ip+":4222", ip+":1883", ip+":8222"
			continue
		}
		routes[i], c.Client[i], c.MQTT[i], c.http[i] = pickAddr(t), pickAddr(t), pickAddr(t), pickAddr(t)
	}
	for i := range Nodes {
		dir := filepath.Join(c.dir, fmt.Sprintf("n%d", i+1))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		conf := strings.NewReplacer(
			"${NAME}", fmt.Sprintf("n%d", i+1), "${REGION}", region,
			"${STORE}", filepath.Join(dir, "jetstream"),
			"${ROUTE_USER}", "route", "${ROUTE_PASSWORD}", "route-pw",
			"${PEER1}:6222", routes[0], "${PEER2}:6222", routes[1], "${PEER3}:6222", routes[2],
			"listen: 0.0.0.0:4222", "listen: "+c.Client[i],
			"listen: 0.0.0.0:1883", "listen: "+c.MQTT[i],
			"listen: 0.0.0.0:6222", "listen: "+routes[i],
		).Replace(string(tmpl)) + "\n# Test only: readiness (/healthz).\nhttp: " + c.http[i] + "\n"
		if strings.Contains(conf, "${") {
			t.Fatalf("deploy/nats/nats.conf has a placeholder or listener the test does not fill:\n%s", conf)
		}
		if err := os.WriteFile(filepath.Join(dir, "nats.conf"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tether-auth.conf"), auth, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// waitAll waits until every node is ready (as WaitReady), and says why
// not when one exits or the time runs out.
func (c *Cluster) waitAll(within time.Duration) error {
	deadline := time.Now().Add(within)
	for i := range Nodes {
		for {
			for j := range Nodes {
				select {
				case <-c.proc[j].exited:
					return fmt.Errorf("nats node %d exited:\n%s", j, tail(c.proc[j].logs.String(), 40))
				default:
				}
			}
			if c.ready(i) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("nats node %d not ready after %v:\n%s", i, within, tail(c.proc[i].logs.String(), 40))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// portTaken reports whether a node exited because one of its ports was in
// use.
func (c *Cluster) portTaken() bool {
	for _, n := range c.proc {
		if n == nil {
			continue
		}
		select {
		case <-n.exited:
			if strings.Contains(n.logs.String(), "address already in use") {
				return true
			}
		default:
		}
	}
	return false
}

// Start starts node i (0-based) again after Kill or Stop.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	if c.proc[i] != nil {
		c.t.Fatalf("nats node %d is running", i)
	}
	n := &node{exited: make(chan struct{}), logs: &testenv.SyncBuffer{}}
	conf := filepath.Join(c.dir, fmt.Sprintf("n%d", i+1), "nats.conf")
	if c.hosts != nil {
		n.cmd = c.hosts.Command(NodeName(i), c.bin, "-c", conf)
	} else {
		n.cmd = exec.Command(c.bin, "-c", conf)
	}
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { n.cmd.Wait(); close(n.exited) }()
	c.proc[i] = n
}

// WaitReady waits until node i's /healthz says ok (JetStream current, with
// a metadata leader) and its MQTT listener accepts connections.
func (c *Cluster) WaitReady(i int, within time.Duration) {
	c.t.Helper()
	n := c.proc[i]
	deadline := time.Now().Add(within)
	for {
		select {
		case <-n.exited:
			c.t.Fatalf("nats node %d exited:\n%s", i, n.logs)
		default:
		}
		if c.ready(i) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nats node %d not ready after %v:\n%s", i, within, tail(n.logs.String(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitHealthy waits until every running node's /healthz says ok: each
// node's own view is current, so the cluster has its replicas back. A
// rolling restart waits for this before it stops the next node (one that
// is not current yet is not a replica a stream can count on), as NATS's
// own upgrade procedure does.
func (c *Cluster) WaitHealthy(within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		sick := -1
		for i, n := range c.proc {
			if n != nil && !healthy(c.http[i]) {
				sick = i
				break
			}
		}
		if sick < 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nats node %d not healthy after %v:\n%s", sick, within, tail(c.proc[sick].logs.String(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill sends SIGKILL to node i and waits for it to exit.
func (c *Cluster) Kill(i int) { c.stop(i, syscall.SIGKILL) }

// KillAll sends SIGKILL to every running node at once (the whole
// cluster losing power together), then waits for each to exit. Start
// brings each back with its store as the kill left it.
func (c *Cluster) KillAll() { c.stopAll() }

func (c *Cluster) stop(i int, sig syscall.Signal) {
	if n := c.proc[i]; n != nil {
		n.cmd.Process.Signal(sig)
	}
	c.reap(i)
}

// stopAll ends every running node at once, with SIGKILL: the test is
// over and nothing of the cluster is kept, and a clean shutdown takes
// seconds (with 150 MQTT sessions' state in JetStream: 5 s a node one
// after another, and all three SIGTERMed together not done within 10 s).
func (c *Cluster) stopAll() {
	for _, n := range c.proc {
		if n != nil {
			n.cmd.Process.Kill()
		}
	}
	for i := range Nodes {
		c.reap(i)
	}
}

// reap waits up to 10 s for node i, signalled, to exit, then SIGKILLs
// it, and forgets its process.
func (c *Cluster) reap(i int) {
	n := c.proc[i]
	if n == nil {
		return
	}
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
	}
	c.proc[i] = nil
}

// ClientURLs returns every node's core-NATS listener as nats:// URLs, node
// first first.
func (c *Cluster) ClientURLs(first int) []string {
	var out []string
	for k := range Nodes {
		out = append(out, "nats://"+c.Client[(first+k)%Nodes])
	}
	return out
}

// URLs returns every node's MQTT listener as tcp:// URLs, node i first.
func (c *Cluster) URLs(first int) []string {
	var out []string
	for k := range Nodes {
		out = append(out, "tcp://"+c.MQTT[(first+k)%Nodes])
	}
	return out
}

// Logs returns node i's log so far (empty when it is not running).
func (c *Cluster) Logs(i int) string {
	if n := c.proc[i]; n != nil {
		return n.logs.String()
	}
	return ""
}

// ready reports whether node i's /healthz says ok and its MQTT listener
// accepts connections.
func (c *Cluster) ready(i int) bool {
	if !healthy(c.http[i]) {
		return false
	}
	conn, err := net.DialTimeout("tcp", c.MQTT[i], time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func healthy(addr string) bool {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://" + addr + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// pickAddr chooses a loopback listener's address (a test replaces it).
var pickAddr = freeAddr

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
