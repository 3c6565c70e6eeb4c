package mqttd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/testenv"
)

// serverClosed reports whether the broker closed c within 10 s.
func serverClosed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// Connections that have not authenticated are limited per source address
// and in total; one over a limit is closed at once, and a slot frees when
// a connection authenticates or ends.
func TestUnauthenticatedLimits(t *testing.T) {
	opts := testOptions(t)
	opts.MaxUnauthenticated, opts.MaxUnauthenticatedPerAddr = 6, 4
	opts.ConnectTimeout = time.Minute
	s := startServer(t, opts)
	addr := s.Addr().String()
	dialFrom := func(ip string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	pending := func(n int) func() bool { return func() bool { return s.plain.pendingCount() == n } }

	var first []net.Conn
	for range 4 {
		first = append(first, dialFrom("127.0.0.1"))
	}
	testenv.Eventually(t, 10*time.Second, "4 pending", pending(4))
	if !serverClosed(dialFrom("127.0.0.1")) {
		t.Error("a fifth unauthenticated connection from one address was kept")
	}
	dialFrom("127.0.0.2")
	dialFrom("127.0.0.2")
	testenv.Eventually(t, 10*time.Second, "6 pending", pending(6))
	if !serverClosed(dialFrom("127.0.0.3")) {
		t.Error("a seventh unauthenticated connection was kept")
	}

	first[0].Close()
	testenv.Eventually(t, 10*time.Second, "a closed connection's slot freed", pending(5))
	c := mustDial(t, addr, "node-a") // from 127.0.0.1: takes the free slot, then frees it
	testenv.Eventually(t, 10*time.Second, "an authenticated connection's slot freed", pending(5))
	c.mustPublish(nodeA+"/metrics", 1, "m")
}

const fdChildEnv = "TETHER_MQTTD_FD_CHILD"

// TestAcceptSurvivesFDExhaustion runs a broker in a child process whose
// file descriptor limit is a few dozen, opens bare TCP connections to it
// until accepting fails, closes them, and shows that a real MQTT client
// then connects and is served: the listener retries after accept errors
// instead of stopping for good.
func TestAcceptSurvivesFDExhaustion(t *testing.T) {
	if creds := os.Getenv(fdChildEnv); creds != "" {
		fdChild(t, creds)
		return
	}
	creds := writeTestCredentials(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptSurvivesFDExhaustion$")
	cmd.Env = append(os.Environ(), fdChildEnv+"="+creds)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testenv.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var log strings.Builder
	defer func() {
		stdin.Close()
		for l := range lines {
			log.WriteString(l + "\n")
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v\n%s", err, stderr.String())
		}
		if t.Failed() {
			t.Logf("child's broker log:\n%s", log.String())
		}
	}()
	// next returns the child's next line containing s, or "" after 20 s.
	next := func(s string) string {
		timeout := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return ""
				}
				log.WriteString(l + "\n")
				if strings.Contains(l, s) {
					return l
				}
			case <-timeout:
				return ""
			}
		}
	}

	addr, _ := strings.CutPrefix(next("ADDR="), "ADDR=")
	if addr == "" {
		t.Fatalf("the child did not start: %s", stderr.String())
	}
	var bare []net.Conn
	defer func() {
		for _, c := range bare {
			c.Close()
		}
	}()
	for range 100 { // the child can accept ~30
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		bare = append(bare, c)
	}
	if next("accept failed") == "" {
		t.Fatal("the child never failed to accept: its descriptors were not exhausted")
	}
	for _, c := range bare {
		c.Close()
	}
	bare = nil

	node, err := dialWith(t, addr, dialOpts{user: "node-a", password: password("node-a"), clientID: "node-a"})
	if err != nil {
		t.Fatalf("a client after the descriptors were freed: %v", err)
	}
	mon := mustDial(t, addr, "monitor")
	mon.subscribe(nodeA+"/metrics", 1)
	node.mustPublish(nodeA+"/metrics", 1, "after")
	mon.await("after")
}

// fdChild is the child of TestAcceptSurvivesFDExhaustion: a broker whose
// process may open 30 descriptors more than it has, logging to stdout,
// serving until stdin closes.
func fdChild(t *testing.T, creds string) {
	s := startServer(t, Options{
		Addr: "127.0.0.1:0", Region: testRegion, CredentialsFile: creds,
		SchedulerUsers: testSchedulers, MonitorUsers: testMonitors, OperatorUsers: testOperators,
		MaxUnauthenticated: -1, MaxUnauthenticatedPerAddr: -1, // only descriptors limit
		ConnectTimeout: time.Minute,
		Logger:         slog.New(slog.NewTextHandler(os.Stdout, nil)),
	})
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = uint64(len(fds) + 30)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ADDR=" + s.Addr().String())
	io.Copy(io.Discard, os.Stdin)
}

// A port in use is said once, in net.Listen's words, for serve to put in
// context ("embedded broker: listen tcp ADDR: bind: address already in
// use"), not again under the package's name.
func TestRunOnAPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	opts := testOptions(t)
	opts.Addr = taken.Addr().String()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background())
	if err == nil || strings.Count(err.Error(), opts.Addr) != 1 || strings.Contains(err.Error(), "mqttd") {
		t.Fatalf("Run on a port in use: %v, want net.Listen's error alone", err)
	}
}
