package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestMakeRunCtrlC: `make run`'s script (scripts/run-local.sh) on a
// Ctrl-C — SIGINT to its terminal's foreground process group — stops the
// agent first, so a monitor sees its goodbye (offline, shutdown) while
// the broker still runs; then the scheduler; it exits 0 and leaves no
// process of its own behind.
func TestMakeRunCtrlC(t *testing.T) {
	t.Parallel()
	agentBin, _ := binaries(t)
	root := testenv.ModuleRoot(t)
	runDir := t.TempDir()
	port, httpPort := freePort(t), freePort(t)
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "run-local.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), fmt.Sprintf("TETHER_PORT=%d", port), fmt.Sprintf("TETHER_HTTP_PORT=%d", httpPort),
		"TETHER_RUN_DIR="+runDir, "TETHER_BIN_DIR="+filepath.Dir(agentBin))
	// Its own process group, as a shell gives a foreground job: the
	// group a terminal's Ctrl-C goes to.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second // children left behind hold the output pipe
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		for _, pid := range ownProcesses(runDir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-exited:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("--- output of make run ---\n%s", out.String())
		}
	})

	// A monitor follows every node's status.
	pwFile := filepath.Join(runDir, "monitor.pw")
	testenv.Eventually(t, 60*time.Second, "make run to start", func() bool {
		b, err := os.ReadFile(pwFile)
		return err == nil && len(b) > 0 && strings.Contains(out.String(), "Tether is running")
	})
	pw, _ := os.ReadFile(pwFile)
	topics, _ := protocol.NewTopics("default")
	sess, err := session.New(session.Options{Brokers: []string{fmt.Sprintf("tcp://127.0.0.1:%d", port)}, ClientID: "monitor@runlocal",
		Username: "monitor", Password: strings.TrimSpace(string(pw)), CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sessDone := make(chan error, 1)
	go func() { sessDone <- sess.Run(ctx) }()
	defer func() { cancel(); <-sessDone }()
	var mu sync.Mutex
	var statuses []protocol.NodeStatus
	if err := sess.Subscribe(ctx, topics.AllNodeStatus(), 1, func(m session.Message) {
		if st, err := protocol.DecodeNodeStatus(m.Payload); err == nil {
			mu.Lock()
			statuses = append(statuses, st)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	last := func() (protocol.NodeStatus, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(statuses) == 0 {
			return protocol.NodeStatus{}, false
		}
		return statuses[len(statuses)-1], true
	}
	testenv.Eventually(t, 60*time.Second, "the agent online", func() bool {
		st, ok := last()
		return ok && st.State == protocol.StateOnline
	})

	// Ctrl-C.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("make run after Ctrl-C: %v", waitErr)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("make run did not stop within 90 s of Ctrl-C")
	}
	if st, _ := last(); st.State != protocol.StateOffline || st.Reason != protocol.ReasonShutdown {
		t.Fatalf("the last status a monitor saw: %s (%s), want offline (shutdown)", st.State, st.Reason)
	}
	if left := ownProcesses(runDir); len(left) > 0 {
		t.Fatalf("processes left running after make run stopped: %v", left)
	}
}

// ownProcesses lists the processes whose command line names dir.
func ownProcesses(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}
