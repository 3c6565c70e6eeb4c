package netns

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary, run by a test in a member's namespace,
// one of the small programs below instead of the tests.
const helperEnv = "TETHER_NETNS_HELPER"

// port is where serve listens; each namespace has its own ports.
const port = "7000"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(helper(h, os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// helper runs the program named h:
//
//	serve         listen on TCP and UDP :port, print "listening"; print
//	              "got LINE" for each line received on any connection and
//	              echo it back, and "udp PAYLOAD" for each datagram
//	udp ADDR P    send one datagram with payload P to ADDR
//	dial ADDR D   connect to ADDR within D: print "ok" and exit 0, or the
//	              error and exit 1
//	send ADDR     connect to ADDR, print "connected", then send each line
//	              of stdin
func helper(h string, args []string) int {
	switch h {
	case "serve":
		l, err := net.Listen("tcp", ":"+port)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		u, err := net.ListenPacket("udp", ":"+port)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		go func() {
			buf := make([]byte, 100)
			for {
				k, _, err := u.ReadFrom(buf)
				if err != nil {
					return
				}
				fmt.Println("udp " + string(buf[:k]))
			}
		}()
		fmt.Println("listening")
		for {
			c, err := l.Accept()
			if err != nil {
				return 1
			}
			go func() {
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					fmt.Println("got " + sc.Text())
					fmt.Fprintln(c, sc.Text())
				}
				c.Close()
			}()
		}
	case "dial":
		d, _ := time.ParseDuration(args[1])
		c, err := net.DialTimeout("tcp", args[0], d)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		c.Close()
		fmt.Println("ok")
		return 0
	case "udp":
		c, err := net.Dial("udp", args[0])
		if err == nil {
			_, err = c.Write([]byte(args[1]))
		}
		if err != nil {
			fmt.Println(err)
			return 1
		}
		return 0
	case "send":
		c, err := net.DialTimeout("tcp", args[0], 2*time.Second)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Println("connected")
		if _, err := io.Copy(c, os.Stdin); err != nil {
			return 1
		}
		return 0
	}
	fmt.Println("unknown helper", h)
	return 2
}

// helperEnviron is the environment of helper h. A binary built with
// -race sleeps a second at exit for late race reports; the helpers'
// exits are waited for, so that sleep is turned off.
func helperEnviron(h string) []string {
	return append(os.Environ(), helperEnv+"="+h, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
}

// proc is a helper program running in a member.
type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // its stdout, closed at its end
}

// start runs helper h with args in member, killed and waited for at the
// test's cleanup.
func start(t *testing.T, n *Net, member, h string, args ...string) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: n.Command(member, exe, args...), lines: make(chan string, 100)}
	p.cmd.Env = helperEnviron(h)
	// An own pipe rather than StdoutPipe, for stdout and stderr: its read
	// end is closed at cleanup, so the reads end even when something else
	// (a process the helper left) holds the write end.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	err = p.cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer close(p.lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill() //nolint:errcheck // it may have exited
		p.cmd.Wait()         //nolint:errcheck // killed
		r.Close()
		<-read
	})
	return p
}

// expect waits up to d for the line want from p, and fails the test on
// its end or on the time passing.
func (p *proc) expect(t *testing.T, d time.Duration, want string) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("%v ended before printing %q", p.cmd.Args, want)
			}
			if l == want {
				return
			}
		case <-timeout:
			t.Fatalf("%v: no %q within %v", p.cmd.Args, want, d)
		}
	}
}

// absent fails the test if p prints one of unwanted within d, or printed
// it since the last look. That something does not happen can only be seen
// by waiting; d is far longer than delivery on these links takes.
func (p *proc) absent(t *testing.T, d time.Duration, unwanted ...string) {
	t.Helper()
	check := func(l string, ok bool) {
		t.Helper()
		if !ok {
			t.Fatalf("%v ended", p.cmd.Args)
		}
		if slices.Contains(unwanted, l) {
			t.Fatalf("%v printed %q, which the cut should have stopped", p.cmd.Args, l)
		}
	}
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-p.lines:
			check(l, ok)
		case <-timeout:
			for { // what came in before the time ran out
				select {
				case l, ok := <-p.lines:
					check(l, ok)
				default:
					return
				}
			}
		}
	}
}

func (p *proc) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// udp sends payload from member to addr in a datagram.
func udp(t *testing.T, n *Net, member, addr, payload string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := n.Command(member, exe, addr, payload)
	cmd.Env = helperEnviron("udp")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("udp from %s to %s: %v: %s", member, addr, err, out)
	}
}

// dial runs the dial helper in member against addr and returns its error
// (nil when it connected within d) and what it printed.
func dial(t *testing.T, n *Net, member, addr string, d time.Duration) (string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := n.Command(member, exe, addr, d.String())
	cmd.Env = helperEnviron("dial")
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}
