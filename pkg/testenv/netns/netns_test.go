package netns

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cut is how long a connect through a cut may take before the test calls
// it failed; a connect through a working link takes well under a
// millisecond here.
const cut = 300 * time.Millisecond

// settle bounds what must happen without a cut: a connect, an echo, or a
// line TCP retransmits after a heal (its retransmission timer backs off
// from 200 ms, so the next try after a heal of a short cut is under 1 s).
const settle = 5 * time.Second

func serve(t *testing.T, n *Net, member string) (*proc, string) {
	t.Helper()
	p := start(t, n, member, "serve")
	p.expect(t, settle, "listening")
	return p, net.JoinHostPort(n.IP(member), port)
}

// echo connects from the root namespace to addr and has line echoed.
func echo(t *testing.T, addr, line string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, settle)
	if err != nil {
		t.Fatalf("root namespace to %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(settle)) //nolint:errcheck // a fresh conn
	fmt.Fprintln(c, line)
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || strings.TrimSpace(got) != line {
		t.Fatalf("root namespace to %s: echo of %q: %q, %v", addr, line, got, err)
	}
}

func reaches(t *testing.T, n *Net, from, addr string) {
	t.Helper()
	if out, err := dial(t, n, from, addr, settle); err != nil {
		t.Fatalf("%s to %s: %v: %s", from, addr, err, out)
	}
}

// cutOff checks that a connect from member from to addr fails silently:
// it times out, as through a real partition, rather than being refused.
func cutOff(t *testing.T, n *Net, from, addr string) {
	t.Helper()
	out, err := dial(t, n, from, addr, cut)
	if err == nil {
		t.Fatalf("%s to %s: connected through the cut", from, addr)
	}
	if !strings.Contains(out, "i/o timeout") {
		t.Fatalf("%s to %s: %q, want a timeout", from, addr, out)
	}
}

func TestPartition(t *testing.T) {
	t.Parallel()
	n := New(t, "a", "b", "c")
	srv, addr := serve(t, n, "a")
	srvB, addrB := serve(t, n, "b")
	reaches(t, n, "b", addr)
	reaches(t, n, "a", addrB)
	udp(t, n, "a", addrB, "a before")
	srvB.expect(t, settle, "udp a before")
	udp(t, n, "b", addr, "b before")
	srv.expect(t, settle, "udp b before")
	echo(t, addr, "root before")
	srv.expect(t, settle, "got root before")
	cl := start(t, n, "b", "send", addr)
	cl.expect(t, settle, "connected")
	cl.send(t, "before")
	srv.expect(t, settle, "got before")

	n.Partition("a", "b")
	cutOff(t, n, "b", addr)
	cutOff(t, n, "a", addrB)
	echo(t, addr, "root during")
	reaches(t, n, "c", addr)
	cl.send(t, "during")
	udp(t, n, "a", addrB, "a during")
	udp(t, n, "b", addr, "b during")
	srv.absent(t, 2*cut, "got during", "udp b during")
	srvB.absent(t, 0, "udp a during") // sent as long ago

	n.Heal("a", "b")
	srv.expect(t, settle, "got during") // the established connection carries on
	reaches(t, n, "b", addr)
	udp(t, n, "a", addrB, "a after")
	srvB.expect(t, settle, "udp a after")

	n.Heal("a", "c") // never partitioned
	reaches(t, n, "c", addr)
}

func TestIsolate(t *testing.T) {
	t.Parallel()
	n := New(t, "a", "b")
	srv, addr := serve(t, n, "a")
	cl := start(t, n, "b", "send", addr)
	cl.expect(t, settle, "connected")
	cl.send(t, "before")
	srv.expect(t, settle, "got before")

	n.Isolate("a")
	if c, err := net.DialTimeout("tcp", addr, cut); err == nil {
		c.Close()
		t.Fatal("root namespace connected to an isolated member")
	}
	cutOff(t, n, "b", addr)
	cl.send(t, "during")
	srv.absent(t, 2*cut, "got during")

	n.Rejoin("a")
	srv.expect(t, settle, "got during")
	echo(t, addr, "root after")
	reaches(t, n, "b", addr)
}

// TestKillReachesProgram checks that a Command's process is the program:
// killing it stops the server, where killing a wrapper would not.
func TestKillReachesProgram(t *testing.T) {
	t.Parallel()
	n := New(t, "a")
	srv, addr := serve(t, n, "a")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", srv.cmd.Process.Pid))
	if want, _ := filepath.EvalSymlinks(exe); err != nil || got != want {
		t.Fatalf("the Command's process runs %q (%v), want %q", got, err, want)
	}
	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	gone := time.After(settle)
	for open := true; open; { // until the server's stdout closes
		select {
		case _, open = <-srv.lines:
		case <-gone:
			t.Fatal("the server's output is still open after its Command's process was killed")
		}
	}
	c, err := net.DialTimeout("tcp", addr, settle)
	if err == nil {
		c.Close()
		t.Fatal("the server still accepts after its Command's process was killed")
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("after the kill: %v, want connection refused", err)
	}
}
