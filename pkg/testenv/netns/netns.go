// Package netns runs a test's processes in network namespaces of their
// own, joined through veth links to one Linux bridge in the root
// namespace, so that a partition between them is a real one: the
// processes keep running and their sockets stay open, only packets stop.
//
// A Net is made by New and removed at the test's cleanup; a test runs
// programs in a member with Command and cuts links with Partition and
// Isolate. The test process itself stays in the root namespace and
// reaches every member over the bridge (Net.IP).
//
// It needs root, iproute2's ip and the kernel's bridge; when one is
// missing the test is skipped, or fails under CI (testenv.InCI).
package netns

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/tether-edge/tether/pkg/testenv"
)

// Net is a set of members, each a network namespace with one interface
// (eth0) on a bridge in the root namespace. Its methods fail the test on
// an error, so they are called from the test's goroutine.
type Net struct {
	t       testing.TB
	ip      string // the ip program
	id      int    // the /24 is 10.231.id.0/24; names carry id
	members map[string]int
	names   []string // in member order
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// New makes one namespace per name (lower-case letters, digits and '-')
// and links each to a fresh bridge; member i (from 0) has the address
// 10.231.id.(i+2), the bridge 10.231.id.1. Everything New makes is
// removed at t's cleanup, whether the test passed or not. Leftovers of a
// test process that died without its cleanup are removed here.
func New(t testing.TB, names ...string) *Net {
	t.Helper()
	if len(names) == 0 || len(names) > 250 {
		t.Fatalf("netns: %d members; want 1 to 250", len(names))
	}
	if os.Geteuid() != 0 {
		need(t, "netns: network namespaces and a bridge need root")
	}
	n := &Net{t: t, ip: testenv.RequireTool(t, "ip"), members: make(map[string]int)}
	for i, name := range names {
		if !validName.MatchString(name) {
			t.Fatalf("netns: member name %q: want lower-case letters, digits and '-', at most 32", name)
		}
		if _, dup := n.members[name]; dup {
			t.Fatalf("netns: member %q named twice", name)
		}
		n.members[name] = i
		n.names = append(n.names, name)
	}
	n.id = allocate(t, n.ip)
	t.Cleanup(n.remove)
	n.must("addr", "add", n.addr(1)+"/24", "dev", bridgeName(n.id))
	n.must("link", "set", bridgeName(n.id), "up")
	for i, name := range names {
		ns, veth := nsName(n.id, name), vethName(n.id, i)
		if out, err := n.run("netns", "add", ns); err != nil {
			if i == 0 {
				need(t, fmt.Sprintf("netns: cannot add a network namespace: %v: %s", err, out))
			}
			t.Fatalf("netns: ip netns add %s: %v: %s", ns, err, out)
		}
		n.must("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
		n.must("link", "set", veth, "master", bridgeName(n.id), "up")
		n.must("-n", ns, "addr", "add", n.addr(i+2)+"/24", "dev", "eth0")
		n.must("-n", ns, "link", "set", "eth0", "up")
		n.must("-n", ns, "link", "set", "lo", "up")
	}
	return n
}

// IP returns member name's IPv4 address.
func (n *Net) IP(name string) string {
	n.t.Helper()
	return n.addr(n.index(name) + 2)
}

// Command returns a command that runs prog with args in member name's
// namespace, through `ip netns exec`, which enters the namespace and then
// executes prog in its own place: cmd.Process is prog itself, so a signal
// to it (SIGKILL included) reaches prog, and Wait reports prog's exit.
// The caller starts, stops and waits for the command; a process still
// running at cleanup loses its link, not its life.
func (n *Net) Command(name, prog string, args ...string) *exec.Cmd {
	n.t.Helper()
	return exec.Command(n.ip, append([]string{"netns", "exec", n.ns(name), prog}, args...)...)
}

func (n *Net) index(name string) int {
	n.t.Helper()
	i, ok := n.members[name]
	if !ok {
		n.t.Fatalf("netns: no member %q (have %s)", name, strings.Join(n.names, ", "))
	}
	return i
}

func (n *Net) addr(host int) string { return fmt.Sprintf("10.231.%d.%d", n.id, host) }

// remove deletes the veths, namespaces and bridge New made, the bridge
// last: a bridge standing is what marks the rest as owned (alloc.go).
func (n *Net) remove() {
	for i, name := range n.names {
		// Deleting the root end of a veth deletes both ends, even when a
		// leftover process keeps the namespace alive.
		if out, err := n.run("link", "del", vethName(n.id, i)); err != nil && !notFound(out) {
			n.t.Errorf("netns: cleanup: %v: %s", err, out)
		}
		if out, err := n.run("netns", "del", nsName(n.id, name)); err != nil && !notFound(out) {
			n.t.Errorf("netns: cleanup: %v: %s", err, out)
		}
	}
	if out, err := n.run("link", "del", bridgeName(n.id)); err != nil {
		n.t.Errorf("netns: cleanup: %v: %s", err, out)
	}
}

func (n *Net) run(args ...string) ([]byte, error) { return ipRun(n.ip, args...) }

func (n *Net) must(args ...string) {
	n.t.Helper()
	if out, err := n.run(args...); err != nil {
		n.t.Fatalf("netns: %v: %s", err, out)
	}
}

// ipRun runs ip with args; the error names the command.
func ipRun(ip string, args ...string) ([]byte, error) {
	out, err := exec.Command(ip, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ip %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// notFound reports whether ip's output says the object is already gone.
func notFound(out []byte) bool {
	s := string(out)
	return strings.Contains(s, "Cannot find device") || strings.Contains(s, "No such file")
}

// need skips the test for a missing capability, or fails it under CI,
// where every capability the tests use is provided.
func need(t testing.TB, msg string) {
	t.Helper()
	if testenv.InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
