//go:build unix

package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// script writes an executable /bin/sh script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "job.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func execSpec(cmd string, env map[string]string) task.Spec {
	return task.Spec{Kind: task.KindExec, Exec: &task.Exec{Command: cmd, Env: env}}
}

// allowing is a fixture edit that allows cmds.
func allowing(cmds ...string) func(*Options) {
	return func(o *Options) { o.Allow = cmds }
}

func TestExecResult(t *testing.T) {
	t.Setenv("TETHER_PASSWORD", "agent-secret") // the agent's environment must not reach tasks
	sh := script(t, `
i=0
while [ $i -lt 200 ]; do echo "line $i"; i=$((i+1)); done
echo "id=$TETHER_TASK_ID attempt=$TETHER_ATTEMPT resumed=${TETHER_RESUMED:-no} password=${TETHER_PASSWORD:-none} greeting=$GREETING"
echo "something went wrong" >&2
exit 3
`)
	f := newFixture(t, func(o *Options) { o.Allow = []string{sh}; o.OutputTail = 100 })
	f.submit(assignment("x1", 2, execSpec(sh, map[string]string{"GREETING": "hello"})))
	ev := f.waitState("x1", 2, task.EventFailed)
	res := ev.Result
	if res == nil || res.ExitCode != 3 || ev.Error != "exit code 3" {
		t.Fatalf("failed event %+v, result %+v", ev, res)
	}
	wantEnd := "id=x1 attempt=2 resumed=no password=none greeting=hello\n"
	if !strings.HasSuffix(res.Stdout, wantEnd) || len(res.Stdout) > 100 {
		t.Fatalf("stdout tail %q (%d bytes): want at most 100 bytes ending %q", res.Stdout, len(res.Stdout), wantEnd)
	}
	if res.Stderr != "something went wrong\n" {
		t.Fatalf("stderr %q", res.Stderr)
	}
	if res.MaxRSSKB <= 0 || res.CPUMS < 0 || res.DurationMS < 0 {
		t.Fatalf("usage: max rss %d KiB, cpu %d ms, duration %d ms", res.MaxRSSKB, res.CPUMS, res.DurationMS)
	}
	if _, err := os.Stat(f.r.attemptDir("x1", 2)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("attempt directory left behind: %v", err)
	}
}

func TestExecSucceedsAndCountsCPU(t *testing.T) {
	sh := script(t, `i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo ok`)
	f := newFixture(t, allowing(sh))
	f.submit(assignment("x2", 1, execSpec(sh, nil)))
	ev := f.waitState("x2", 1, task.EventSucceeded)
	if ev.Result.ExitCode != 0 || ev.Result.Stdout != "ok\n" || ev.Error != "" {
		t.Fatalf("result %+v, error %q", ev.Result, ev.Error)
	}
	if ev.Result.CPUMS <= 0 {
		t.Fatalf("a busy loop of 300000 rounds used %d ms of CPU", ev.Result.CPUMS)
	}
}

// childScript starts a child sleep in the background, writes its pid to
// the file $PIDFILE, and waits; trap sets what it does with SIGTERM.
func childScript(t *testing.T, trap string) string {
	return script(t, trap+`
sleep 1000 &
echo $! > "$PIDFILE.tmp" && mv "$PIDFILE.tmp" "$PIDFILE"
wait
`)
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	testenv.Eventually(t, 10*time.Second, "the child's pid file", func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

// gone reports whether pid no longer runs: no such process, or a zombie
// waiting for a reaper (in a container, PID 1 may not reap).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(fields) > 0 && fields[0] == "Z"
}

func TestExecTimeoutKillsTheProcessGroup(t *testing.T) {
	for name, trap := range map[string]string{
		"ends on SIGTERM": "",
		"ignores SIGTERM": "trap '' TERM", // inherited by the child: only SIGKILL ends them
	} {
		t.Run(name, func(t *testing.T) {
			sh := childScript(t, trap)
			timeout := &manualTimeout{}
			f := newFixture(t, func(o *Options) { o.Allow = []string{sh}; o.KillGrace = time.Second; o.afterFunc = timeout.after })
			pidfile := filepath.Join(t.TempDir(), "child.pid")
			spec := execSpec(sh, map[string]string{"PIDFILE": pidfile})
			spec.Timeout = task.Duration(time.Second)
			f.submit(assignment("slow", 1, spec))
			child := readPid(t, pidfile)
			if gone(child) {
				t.Fatal("the child is not running to begin with")
			}
			if d := timeout.fire(t); d != time.Second {
				t.Fatalf("the attempt's timeout was %v, want the spec's 1s", d)
			}
			ev := f.waitState("slow", 1, task.EventFailed)
			if ev.Error != "timeout: still running after 1s" || ev.Result == nil || ev.Result.ExitCode != -1 {
				t.Fatalf("failed event: error %q, result %+v", ev.Error, ev.Result)
			}
			testenv.Eventually(t, 10*time.Second, "the child killed", func() bool { return gone(child) })
		})
	}
}

// manualTimeout is an Options.afterFunc whose timeouts expire when the
// test fires them, not after their duration: a process that starts slowly
// on a busy host is never ended before the test has seen it run.
type manualTimeout struct {
	mu sync.Mutex
	d  time.Duration
	f  func()
}

func (m *manualTimeout) after(d time.Duration, f func()) func() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.d, m.f = d, f
	return func() bool { return true }
}

// fire expires the latest timeout started and returns its duration.
func (m *manualTimeout) fire(t *testing.T) time.Duration {
	t.Helper()
	m.mu.Lock()
	d, f := m.d, m.f
	m.mu.Unlock()
	if f == nil {
		t.Fatal("no timeout started")
	}
	f()
	return d
}

func TestExecCancelKillsTheProcessGroup(t *testing.T) {
	sh := childScript(t, "")
	f := newFixture(t, allowing(sh))
	pidfile := filepath.Join(t.TempDir(), "child.pid")
	f.submit(assignment("c1", 1, execSpec(sh, map[string]string{"PIDFILE": pidfile})))
	child := readPid(t, pidfile)
	f.submit(cancelAssignment("c1", 1))
	ev := f.waitState("c1", 1, task.EventCancelled)
	if ev.Result == nil || ev.Error != "cancelled by the scheduler" {
		t.Fatalf("cancelled event: error %q, result %+v", ev.Error, ev.Result)
	}
	testenv.Eventually(t, 10*time.Second, "the child killed", func() bool { return gone(child) })
}

func TestExecCommandNotFound(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	f := newFixture(t, allowing(missing))
	f.submit(assignment("nf", 1, execSpec(missing, nil)))
	ev := f.waitState("nf", 1, task.EventFailed)
	if !strings.Contains(ev.Error, "starting "+missing) || ev.Result.ExitCode != -1 {
		t.Fatalf("failed event: error %q, result %+v", ev.Error, ev.Result)
	}
}

// counterScript counts to 30, checkpointing each step as the contract in
// docs/tasks.md says: progress first, then the checkpoint by rename.
func counterScript(t *testing.T) string {
	return script(t, `
n=0
if [ "$TETHER_RESUMED" = 1 ]; then n=$(cat "$TETHER_CHECKPOINT_DIR/checkpoint"); echo "resumed at $n"; fi
while [ $n -lt 30 ]; do
	n=$((n+1))
	echo "progress $n 30" > "$TETHER_CHECKPOINT_DIR/progress"
	echo $n > "$TETHER_CHECKPOINT_DIR/checkpoint.tmp"
	mv "$TETHER_CHECKPOINT_DIR/checkpoint.tmp" "$TETHER_CHECKPOINT_DIR/checkpoint"
	sleep 0.1
done
echo "done at $n"
`) // 3 s: the restart comes long before the end
}

func TestExecCheckpointsTravelAndResumeAfterRestart(t *testing.T) {
	sh := counterScript(t)
	f := newFixture(t, allowing(sh))
	spec := execSpec(sh, nil)
	spec.Checkpointable = true
	f.submit(assignment("ck", 1, spec))
	cp := f.waitFor("ck", func(e task.Event) bool { return e.State == task.EventCheckpoint && e.Progress >= 3 })
	if string(cp.Checkpoint) != strconv.FormatInt(cp.Progress, 10)+"\n" || cp.Total != 30 {
		t.Fatalf("checkpoint event: %q at %d of %d", cp.Checkpoint, cp.Progress, cp.Total)
	}
	f.restart()
	resumed := f.waitFor("ck", func(e task.Event) bool { return e.State == task.EventRunning && e.Resumed })
	var last task.Event // the last checkpoint journaled before the restart
	for _, e := range of(f.events(), "ck") {
		if e.State == task.EventCheckpoint && !e.Resumed {
			last = e
		}
		if e.State == task.EventRunning && e.Resumed {
			break
		}
	}
	if resumed.Progress != last.Progress || resumed.Progress < 3 {
		t.Fatalf("resumed at %d, the last checkpoint was at %d", resumed.Progress, last.Progress)
	}
	done := f.waitState("ck", 1, task.EventSucceeded)
	want := fmt.Sprintf("resumed at %d\ndone at 30\n", resumed.Progress)
	if done.Result.Stdout != want {
		t.Fatalf("stdout %q, want %q", done.Result.Stdout, want)
	}
}

func TestExecCheckpointsBeyondTheLimitStayOnTheNode(t *testing.T) {
	sh := script(t, `
head -c 3000 /dev/zero > "$TETHER_CHECKPOINT_DIR/checkpoint.tmp"
mv "$TETHER_CHECKPOINT_DIR/checkpoint.tmp" "$TETHER_CHECKPOINT_DIR/checkpoint"
exit 1
`) // the last checkpoint of a failed run is always taken
	f := newFixture(t, func(o *Options) { o.Allow = []string{sh}; o.CheckpointLimit = 1000 })
	spec := execSpec(sh, nil)
	spec.Checkpointable = true
	f.submit(assignment("big", 1, spec))
	cp := f.waitState("big", 1, task.EventCheckpoint)
	if cp.Checkpoint != nil {
		t.Fatalf("a checkpoint of 3000 bytes travelled with a limit of 1000")
	}
	sv, err := f.r.loadSaved("big", 1)
	if err != nil || len(sv.State) != 3000 {
		t.Fatalf("kept on the node: %d bytes, %v", len(sv.State), err)
	}
}

func TestExecNotCheckpointableFailsAfterRestart(t *testing.T) {
	sh := childScript(t, "")
	f := newFixture(t, allowing(sh))
	pidfile := filepath.Join(t.TempDir(), "child.pid")
	f.submit(assignment("nc", 1, execSpec(sh, map[string]string{"PIDFILE": pidfile})))
	child := readPid(t, pidfile)
	f.restart()
	ev := f.waitState("nc", 1, task.EventFailed)
	if ev.Error != "interrupted by agent restart" {
		t.Fatalf("failed with %q", ev.Error)
	}
	if !gone(child) {
		t.Fatal("the agent's shutdown left the task's processes running")
	}
	if n := len(of(f.events(), "nc")); n != 3 { // accepted, running, failed: never run again
		t.Fatalf("events:\n%s", describe(of(f.events(), "nc")))
	}
}
