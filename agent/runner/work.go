package runner

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tether-edge/tether/agent/store"
	"github.com/tether-edge/tether/pkg/task"
)

// start runs e in a worker of its own.
func (r *Runner) start(e *entry) {
	ctx, cancel := context.WithCancelCause(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	r.running++
	r.workers.Add(1)
	go r.work(ctx, e, e.restarted)
	e.restarted = false
}

// outcome is how a workload ended: its result, and err when it did not
// succeed by its own doing (an exit code, a failure to start).
type outcome struct {
	res task.Result
	err error
}

// work runs e's attempt and journals its end, unless the agent is
// shutting down: then the attempt stays running in the journal.
func (r *Runner) work(ctx context.Context, e *entry, restarted bool) {
	defer r.workers.Done()
	defer func() {
		close(e.done)
		select {
		case r.finished <- e:
		case <-r.quit:
		}
	}()
	e.mu.Lock()
	sv := e.sv // Spec and State are not changed in place, only replaced
	e.mu.Unlock()
	stopped := ctx.Done() // the runner's stop or cancel, not the timeout
	timeout := sv.Spec.Timeout.D()
	ctx, expire := context.WithCancelCause(ctx)
	defer expire(nil)
	defer r.opts.afterFunc(timeout, func() { expire(errTimeout) })()
	began := time.Now()
	var out outcome
	awaitPrefetch(ctx, e)
	fetchErr := r.fetchInputs(ctx, sv.Spec)
	fetched := time.Since(began)
	switch {
	case fetchErr != nil:
		r.started(e, false, restarted, 0)
		out = outcome{res: task.Result{ExitCode: -1}, err: fetchErr}
	case sv.Spec.Kind == task.KindBuiltin && sv.Spec.Builtin.Name == task.BuiltinSHA256:
		r.started(e, false, restarted, 0)
		out = r.runSHA256(ctx, sv.Spec)
	case sv.Spec.Kind == task.KindBuiltin:
		out = r.runBuiltinTask(ctx, e, sv, restarted)
	case sv.Spec.Kind == task.KindExec:
		out = r.runExecTask(ctx, e, sv, restarted)
	default: // Validate allows no other
		out.err = fmt.Errorf("unknown kind %q", sv.Spec.Kind)
	}
	out.res.DurationMS = time.Since(began).Milliseconds()
	if len(sv.Spec.Inputs) > 0 {
		out.res.FetchMS = fetched.Milliseconds()
	}

	to, reason := task.EventSucceeded, ""
	switch cause := context.Cause(ctx); {
	case ctx.Err() != nil && cause == errShutdown:
		r.log.Info("task interrupted by the agent's shutdown; it resumes at the next start", "task", e.id, "attempt", sv.Attempt)
		return
	case ctx.Err() != nil && errors.Is(cause, errTimeout):
		to, reason = task.EventFailed, fmt.Sprintf("timeout: still running after %v", timeout)
	case ctx.Err() != nil && errors.Is(cause, errYield):
		to, reason = task.EventYielded, cause.Error()
	case ctx.Err() != nil:
		to, reason = task.EventCancelled, cause.Error()
	case out.err != nil:
		to, reason = task.EventFailed, out.err.Error()
	}
	res := out.res
	reason = clip(reason, task.MaxError)
	detail := reason
	if detail == "" {
		detail = fmt.Sprintf("exit code %d", res.ExitCode)
	}
	// An attempt's end is never dropped: while the store refuses it for a
	// full disk it waits, without e.mu, and goes in once there is room.
	// If the agent stops first it stays running in the journal and runs
	// again at the next start.
	for {
		e.mu.Lock()
		if terminal(e.state) { // ended meanwhile (a cancel)
			e.mu.Unlock()
			return
		}
		e.sv.Result, e.sv.Error = &res, reason
		err := r.journalLocked(e, to, detail, true, task.Event{Progress: e.sv.Progress, Total: e.sv.Total, Result: &res, Error: reason})
		e.mu.Unlock()
		if err == nil {
			r.log.Info("task ended", "task", e.id, "attempt", sv.Attempt, "state", to, "reason", reason,
				"duration_ms", res.DurationMS)
			return
		}
		if !errors.Is(err, store.ErrDiskFull) {
			return
		}
		t := time.NewTimer(diskFullRetry)
		select {
		case <-stopped:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// diskFullRetry is how often an attempt's end the store refused for a full
// disk is tried again: the store looks at the free space every second.
const diskFullRetry = time.Second

// started journals the start of an attempt: resumed from a checkpoint of
// progress, or from the start.
func (r *Runner) started(e *entry, resumed, restarted bool, progress int64) {
	detail := "started"
	switch {
	case resumed:
		detail = fmt.Sprintf("resumed from a checkpoint at %d", progress)
	case restarted:
		detail = "started again from the beginning after an agent restart"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sv.Progress = progress
	_ = r.journalLocked(e, task.EventRunning, detail, false,
		task.Event{Progress: progress, Total: e.sv.Total, Resumed: resumed})
}

// checkpoint journals a workload's checkpoint: state stands for progress
// of total. It is kept on the node in any case, and travels with its event
// when within the limit.
func (r *Runner) checkpoint(e *entry, state []byte, progress, total int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sv.State, e.sv.Progress, e.sv.Total = state, progress, total
	_ = r.journalLocked(e, task.EventCheckpoint, fmt.Sprintf("checkpoint at %d of %d", progress, total), true,
		task.Event{Progress: progress, Total: total, Checkpoint: r.eventCheckpoint(state)})
}

// runBuiltinTask runs a builtin, from its checkpoint when it has one.
func (r *Runner) runBuiltinTask(ctx context.Context, e *entry, sv saved, restarted bool) outcome {
	b := *sv.Spec.Builtin
	s := builtinStart(b.Name)
	resumed := false
	if sv.Spec.Checkpointable && len(sv.State) > 0 {
		if cs, err := decodeBuiltinState(sv.State, b.Units); err != nil {
			r.log.Warn("task checkpoint unusable; starting from the beginning", "task", e.id, "attempt", sv.Attempt, "err", err)
		} else {
			s, resumed = cs, true
		}
	}
	from := s.done
	r.started(e, resumed, restarted, from)
	every := int64(0)
	if sv.Spec.Checkpointable {
		every = b.CheckpointEvery
	}
	var done atomic.Int64
	done.Store(s.done)
	stopProgress := r.everyProgress(func() { r.reportProgress(e, done.Load(), b.Units) })
	saved := from
	s, err := runBuiltin(ctx, b, s, every, func(s builtinState) {
		r.checkpoint(e, s.encode(), s.done, b.Units)
		saved = s.done
	}, &done)
	stopProgress()
	if errors.Is(err, errYield) && sv.Spec.Checkpointable && s.done > saved {
		r.checkpoint(e, s.encode(), s.done, b.Units) // the last whole unit: what the yield keeps
	}
	e.mu.Lock()
	e.sv.Progress = s.done
	e.sv.Total = b.Units
	e.mu.Unlock()
	res := task.Result{WorkDone: s.done - from}
	if err == nil {
		res.Output = s.output()
	}
	return outcome{res: res, err: err}
}
