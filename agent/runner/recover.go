package runner

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tether-edge/tether/agent/store"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// load rebuilds the runner's view from the journal after a start:
// finished tasks wait to be forgotten; accepted ones queue again; ones
// that were running resume — from their checkpoint when they have one,
// from the beginning when they are deterministic (builtins) or
// checkpointable without a checkpoint yet — except exec tasks that cannot
// checkpoint, which fail: running them twice might do twice what they do.
// Resumed tasks take the slots first, then the accepted ones, each in the
// order of their last event.
func (r *Runner) load() error {
	states, err := r.st.Tasks()
	if err != nil {
		return fmt.Errorf("runner: reading the task journal: %w", err)
	}
	slices.SortFunc(states, func(a, b store.TaskState) int { return cmp.Compare(a.Seq, b.Seq) })
	var resume, accepted []*entry
	for _, ts := range states {
		e := &entry{id: ts.Task, state: ts.State, seq: ts.Seq, since: ts.Since}
		r.tasks[ts.Task] = e
		sv, err := r.loadSaved(ts.Task, ts.Attempt)
		if err != nil {
			e.sv = saved{Attempt: ts.Attempt}
			if !terminal(ts.State) {
				r.log.Error("task cannot be resumed: its saved state is lost", "task", ts.Task, "attempt", ts.Attempt, "err", err)
				r.fail(e, "the agent lost the task's saved state: "+err.Error())
			}
			continue
		}
		e.sv = sv
		switch {
		case terminal(ts.State):
		case ts.State == task.EventAccepted:
			accepted = append(accepted, e)
		case sv.Spec.Kind == task.KindExec && !sv.Spec.Checkpointable:
			r.log.Warn("task failed: interrupted by the agent's restart and not checkpointable", "task", ts.Task, "attempt", ts.Attempt)
			r.fail(e, "interrupted by agent restart")
		default:
			e.restarted = true
			resume = append(resume, e)
		}
	}
	r.queue = append(resume, accepted...)
	if len(r.queue) > 0 {
		r.log.Info("tasks resumed from the journal", "resumed", len(resume), "accepted", len(accepted))
	}
	r.cleanWorkdir()
	return nil
}

func (r *Runner) loadSaved(id string, attempt uint32) (saved, error) {
	blob, ok, err := r.st.Checkpoint(id)
	if err != nil {
		return saved{}, err
	}
	if !ok {
		return saved{}, errors.New("none in the store")
	}
	sv, err := decodeSaved(blob)
	if err != nil {
		return saved{}, err
	}
	if sv.Attempt != attempt {
		return saved{}, fmt.Errorf("saved for attempt %d, the journal is at %d", sv.Attempt, attempt)
	}
	return sv, nil
}

// fail journals that e's attempt failed before it could run again.
func (r *Runner) fail(e *entry, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sv.Error = reason
	_ = r.journalLocked(e, task.EventFailed, reason, e.sv.Spec.Kind != "",
		task.Event{Progress: e.sv.Progress, Total: e.sv.Total, Error: reason})
}

// cleanWorkdir removes the attempt directories left by the last run: no
// attempt runs yet, and each one's directory is made afresh when it does.
// Only names of the form <task id>.<attempt> are touched.
func (r *Runner) cleanWorkdir() {
	des, err := os.ReadDir(r.opts.Workdir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("task workdir unreadable", "dir", r.opts.Workdir, "err", err)
		}
		return
	}
	for _, de := range des {
		if !de.IsDir() || !attemptDirName(de.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(r.opts.Workdir, de.Name())); err != nil {
			r.log.Warn("old attempt directory not removed", "dir", de.Name(), "err", err)
		}
	}
}

func attemptDirName(name string) bool {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return false
	}
	n, err := strconv.ParseUint(name[i+1:], 10, 32)
	return err == nil && n > 0 && protocol.ValidateID("task", name[:i]) == nil
}
