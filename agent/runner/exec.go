package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/tether-edge/tether/pkg/task"
)

// An exec task's attempt directory, <workdir>/<task>.<attempt>, holds
//
//	checkpoint/   TETHER_CHECKPOINT_DIR: checkpoint, checkpoint.tmp, progress
//	work/         the working directory, unless the spec names one
//
// It is made afresh for every run of the attempt and removed when the
// attempt ends; the checkpoint lives in the store, not here.
func (r *Runner) attemptDir(id string, attempt uint32) string {
	return filepath.Join(r.opts.Workdir, id+"."+strconv.FormatUint(uint64(attempt), 10))
}

// basePath is the PATH of an exec task unless its spec sets one: tasks do
// not inherit the agent's environment, which may hold its MQTT password.
const basePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// runExecTask runs an exec task's command in a process group of its own,
// restoring its checkpoint first when it has one, persisting the
// checkpoints it writes, and ending the whole group when it exits, is
// cancelled or times out.
func (r *Runner) runExecTask(ctx context.Context, e *entry, sv saved, restarted bool) outcome {
	x := sv.Spec.Exec
	if reason := r.refusal(sv.Spec); reason != "" { // the allowlist may have changed since it was accepted
		r.started(e, false, restarted, 0)
		return outcome{res: task.Result{ExitCode: -1}, err: errors.New(reason)}
	}
	dir := r.attemptDir(e.id, sv.Attempt)
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			r.log.Warn("attempt directory not removed", "task", e.id, "dir", dir, "err", err)
		}
	}()
	ckptDir, workDir := filepath.Join(dir, "checkpoint"), filepath.Join(dir, "work")
	resumed := sv.Spec.Checkpointable && len(sv.State) > 0
	err := prepareAttemptDir(dir, ckptDir, workDir, sv.State, resumed)
	if err != nil {
		r.started(e, false, restarted, 0)
		return outcome{res: task.Result{ExitCode: -1}, err: fmt.Errorf("preparing %s: %w", dir, err)}
	}
	dataEnv, err := r.dataEnv(dir, sv.Spec)
	if err != nil {
		r.started(e, false, restarted, 0)
		return outcome{res: task.Result{ExitCode: -1}, err: fmt.Errorf("task data: %w", err)}
	}
	progress := int64(0)
	if resumed {
		progress = sv.Progress
	}
	r.started(e, resumed, restarted, progress)

	cmd := exec.Command(x.Command, x.Args...)
	cmd.Dir = workDir
	if x.Workdir != "" {
		cmd.Dir = x.Workdir
	}
	env := []string{"PATH=" + basePath, "HOME=" + workDir}
	for _, k := range slices.Sorted(maps.Keys(x.Env)) {
		env = append(env, k+"="+x.Env[k])
	}
	progressFile := filepath.Join(ckptDir, "progress")
	env = append(env, "TETHER_CHECKPOINT_DIR="+ckptDir, "TETHER_PROGRESS_FILE="+progressFile, "TETHER_TASK_ID="+e.id,
		"TETHER_ATTEMPT="+strconv.FormatUint(uint64(sv.Attempt), 10))
	if resumed {
		env = append(env, "TETHER_RESUMED=1")
	}
	cmd.Env = append(env, dataEnv...)
	setProcessGroup(cmd)

	stdout, stderr := &tailWriter{max: r.opts.OutputTail}, &tailWriter{max: r.opts.OutputTail}
	p, err := startWithPipes(cmd, stdout, stderr)
	if err != nil {
		return outcome{res: task.Result{ExitCode: -1}, err: fmt.Errorf("starting %s: %w", x.Command, err)}
	}
	r.log.Info("task process started", "task", e.id, "attempt", sv.Attempt, "pid", cmd.Process.Pid, "command", x.Command)

	w := &ckptWatch{dir: ckptDir}
	if resumed {
		w.seen(filepath.Join(ckptDir, "checkpoint"))
	}
	var poll <-chan time.Time
	if sv.Spec.Checkpointable {
		t := time.NewTicker(r.opts.PollInterval)
		defer t.Stop()
		poll = t.C
	}
	var report <-chan time.Time
	if r.opts.ProgressInterval > 0 {
		t := time.NewTicker(r.opts.ProgressInterval)
		defer t.Stop()
		report = t.C
	}
	var waitErr error
	for done := false; !done; {
		select {
		case waitErr = <-p.exited:
			done = true
		case <-ctx.Done():
			waitErr = r.terminate(cmd.Process.Pid, p.exited)
			done = true
		case <-poll:
			r.pollCheckpoint(e, w)
		case <-report:
			n, total := readProgress(progressFile)
			r.reportProgress(e, n, total)
		}
	}
	// Whatever the task left behind in its group ends with it.
	killGroup(cmd.Process.Pid)
	p.drain(r.opts.KillGrace + time.Second)

	ps := cmd.ProcessState
	res := task.Result{ExitCode: ps.ExitCode(), CPUMS: (ps.UserTime() + ps.SystemTime()).Milliseconds(),
		MaxRSSKB: maxRSSKB(ps), Stdout: stdout.String(), Stderr: stderr.String()}
	if sv.Spec.Checkpointable && (!ps.Success() || errors.Is(context.Cause(ctx), errYield)) {
		// The last one it wrote helps the next attempt; on a yield, the
		// task may have written it on the SIGTERM.
		r.pollCheckpoint(e, w)
	}
	var exitErr *exec.ExitError
	switch {
	case waitErr != nil && !errors.As(waitErr, &exitErr):
		return outcome{res: res, err: fmt.Errorf("waiting for %s: %w", x.Command, waitErr)}
	case !ps.Success():
		return outcome{res: res, err: exitError(ps)}
	}
	if res.Outputs, err = r.storeOutputs(dir, sv.Spec); err != nil {
		return outcome{res: res, err: err}
	}
	return outcome{res: res}
}

// terminate ends a task's process group: SIGTERM, then SIGKILL after the
// grace. It returns the leader's wait error.
func (r *Runner) terminate(pid int, exited <-chan error) error {
	termGroup(pid)
	if r.opts.KillGrace > 0 {
		t := time.NewTimer(r.opts.KillGrace)
		defer t.Stop()
		select {
		case err := <-exited:
			return err
		case <-t.C:
		}
	}
	killGroup(pid)
	return <-exited
}

func prepareAttemptDir(dir, ckptDir, workDir string, state []byte, restore bool) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for _, d := range []string{ckptDir, workDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if restore {
		return os.WriteFile(filepath.Join(ckptDir, "checkpoint"), state, 0o600)
	}
	return nil
}

// process is a started command whose output is copied into tails.
type process struct {
	exited  chan error // the leader's wait error
	copied  chan struct{}
	readers []*os.File
}

// startWithPipes starts cmd with its stdout and stderr on pipes of our
// own (so Wait returns when the leader exits, not when the last process
// holding the pipes does) copied into the tails.
func startWithPipes(cmd *exec.Cmd, stdout, stderr io.Writer) (*process, error) {
	p := &process{exited: make(chan error, 1), copied: make(chan struct{})}
	var writers []*os.File
	closeAll := func() {
		for _, f := range append(writers, p.readers...) {
			f.Close()
		}
	}
	for range 2 {
		pr, pw, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, err
		}
		p.readers, writers = append(p.readers, pr), append(writers, pw)
	}
	cmd.Stdout, cmd.Stderr = writers[0], writers[1]
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, err
	}
	for _, w := range writers {
		w.Close() // the children hold their own copies
	}
	left := make(chan struct{}, 2)
	for i, w := range []io.Writer{stdout, stderr} {
		go func() {
			_, _ = io.Copy(w, p.readers[i])
			left <- struct{}{}
		}()
	}
	go func() {
		<-left
		<-left
		close(p.copied)
	}()
	go func() { p.exited <- cmd.Wait() }()
	return p, nil
}

// drain waits up to d for the output to be copied to its end (every
// writer closed), then closes the pipes, which ends the copying.
func (p *process) drain(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.copied:
	case <-t.C: // a process outside the group still holds a pipe
	}
	for _, f := range p.readers {
		f.Close()
	}
	<-p.copied
}

// exitError says how a process that did not succeed ended.
func exitError(ps *os.ProcessState) error {
	if sig, ok := signalOf(ps); ok {
		return fmt.Errorf("killed by signal %s", sig)
	}
	return fmt.Errorf("exit code %d", ps.ExitCode())
}
