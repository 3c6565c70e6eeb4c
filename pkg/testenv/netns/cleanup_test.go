package netns

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tether-edge/tether/pkg/testenv"
)

// childEnv makes TestChild, in a test binary run by a test, leave its Net
// by failing (fail) or by dying without its cleanup (crash).
const childEnv = "TETHER_NETNS_CHILD"

func TestChild(t *testing.T) {
	how := os.Getenv(childEnv)
	if how == "" {
		t.Skip("run by TestCleanupAfterFailure and TestCrashLeftovers")
	}
	n := New(t, "crash1", "crash2")
	println("id", n.id)
	if how == "crash" {
		p := start(t, n, "crash1", "serve")
		p.expect(t, settle, "listening")
		println("pid", p.cmd.Process.Pid)
		println("ready")
		io.Copy(io.Discard, os.Stdin)              //nolint:errcheck // until the parent says
		syscall.Kill(os.Getpid(), syscall.SIGKILL) //nolint:errcheck // does not return
	}
	t.Fatal("failing on purpose")
}

// child runs TestChild with how and returns its output and the id of the
// Net it made, holding the lock of allocate until unlock (or the test's
// end), for a crash from before the child dies: what it left is then
// still there to see, not yet swept by a New of another test process.
func child(t *testing.T, how string) (out string, id int, unlock func()) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+how)
	// Its output goes to a file, not a pipe, so that nothing it leaves
	// running can keep this test waiting for the pipe's end.
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	stdin, hold, err := os.Pipe() // a crash child dies when hold closes
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	cmd.Stdin = stdin
	err = cmd.Start()
	stdin.Close()
	if err != nil {
		t.Fatal(err)
	}
	output := func() string {
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if how == "crash" { // lock once it has its Net: New takes the lock
		testenv.Eventually(t, settle, "TestChild ready", func() bool {
			return strings.Contains(output(), "\nready\n")
		})
		unlock = lock(t)
		hold.Close()
		err = cmd.Wait()
	} else {
		err = cmd.Wait()
		unlock = lock(t)
	}
	t.Cleanup(unlock)
	out = output()
	if err == nil && strings.Contains(out, "--- SKIP: TestChild") {
		// A missing capability, for which New skipped TestChild (under CI
		// it fails it, and the checks below fail this test).
		t.Skip("TestChild skipped:\n" + out)
	}
	if err == nil {
		t.Fatalf("TestChild (%s) passed:\n%s", how, out)
	}
	m := regexp.MustCompile(`(?m)^id ([0-9]+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("TestChild (%s) made no Net:\n%s", how, out)
	}
	id, _ = strconv.Atoi(m[1])
	return out, id, unlock
}

// left returns the names this package gives id's objects that exist,
// unless id was taken by another process since (its bridge's alias not
// this process's): then its names say nothing of the Net being checked.
// The caller holds the lock of allocate, under which a bridge and its
// alias are made.
func left(t *testing.T, id int, names ...string) []string {
	t.Helper()
	ip := testenv.RequireTool(t, "ip")
	var found []string
	for _, o := range append(list(t, ip, "netns", "list"), list(t, ip, "link", "show")...) {
		if o.Name == bridgeName(id) && o.Alias != "" && o.Alias != owner() && !stale(o.Alias, owner()) {
			t.Logf("id %d was taken by %q since; not checked", id, o.Alias)
			return nil
		}
		for _, name := range names {
			if o.Name == name {
				found = append(found, name)
			}
		}
	}
	return found
}

func objects(id int, members ...string) []string {
	names := []string{bridgeName(id)}
	for i, m := range members {
		names = append(names, vethName(id, i), nsName(id, m))
	}
	return names
}

func TestCleanup(t *testing.T) {
	id := -1
	t.Run("net", func(st *testing.T) {
		n := New(st, "a", "b")
		id = n.id
		exe, err := os.Executable()
		if err != nil {
			st.Fatal(err)
		}
		// A process still running at the Net's cleanup: it must not keep
		// the namespace's link in place. It is stopped after the check.
		survivor := n.Command("a", exe)
		survivor.Env = helperEnviron("serve")
		if err := survivor.Start(); err != nil {
			st.Fatal(err)
		}
		t.Cleanup(func() {
			survivor.Process.Kill() //nolint:errcheck // best effort
			survivor.Wait()         //nolint:errcheck // killed
		})
	})
	if id < 0 {
		t.Skip("the sub-test made no Net")
	}
	unlock := lock(t)
	t.Cleanup(unlock)
	if got := left(t, id, objects(id, "a", "b")...); len(got) > 0 {
		t.Fatalf("after cleanup, still there: %v", got)
	}
}

func TestCleanupAfterFailure(t *testing.T) {
	out, id, _ := child(t, "fail")
	if !regexp.MustCompile(`failing on purpose`).MatchString(out) {
		t.Fatalf("TestChild failed otherwise:\n%s", out)
	}
	if got := left(t, id, objects(id, "crash1", "crash2")...); len(got) > 0 {
		t.Fatalf("after a failed test's cleanup, still there: %v", got)
	}
}

// TestCrashLeftovers checks that what a test process killed mid-test
// left (a server still running in one of its namespaces included) is
// removed by the next New and does not stand in its way.
func TestCrashLeftovers(t *testing.T) {
	out, id, unlock := child(t, "crash")
	m := regexp.MustCompile(`(?m)^pid ([0-9]+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("TestChild (crash) started no server:\n%s", out)
	}
	pid, _ := strconv.Atoi(m[1])
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) }) //nolint:errcheck // best effort
	if got := left(t, id, objects(id, "crash1", "crash2")...); len(got) != 5 {
		t.Fatalf("the crashed process left %v, want its bridge, veths and namespaces", got)
	}
	unlock()
	n := New(t, "crash1")
	unlock = lock(t)
	t.Cleanup(unlock)
	t.Logf("crashed run had id %d, this Net has %d", id, n.id)
	want := 0
	if n.id == id { // reused: its bridge, veth 0 and namespace are this Net's
		want = 3
	}
	if got := left(t, id, objects(id, "crash1", "crash2")...); len(got) != want {
		t.Fatalf("after New, of the crashed run's objects still there: %v", got)
	}
	unlock()
	// The new Net works where the leftovers were.
	srv, addr := serve(t, n, "crash1")
	echo(t, addr, "after a crash")
	srv.expect(t, settle, "got after a crash")
}
