package powerloss

import (
	"errors"
	"fmt"
	"time"
)

// TaskConfig makes a Run the task run: the workload is the task runner's
// (agent/runner's TestPowerLossTaskWorkload), running one checkpointable
// cpu task of Units units of UnitMS, checkpointed every Every units, and
// the run cuts the power until the task is done.
//
// Cuts are planned so that the task spans at least Aim of them, whatever
// the VM's speed: a write cut waits for a checkpoint Step units past the
// boot's resume point, then cuts U × (the time between checkpoints) later.
// A boot so advances the durable progress by at most Step + 3×Every
// units (the checkpoint that passes the goal, one more in the random wait,
// one for a wait estimated long) = Units / (write cuts among the first Aim
// + 1), so the first Aim cuts are all made before the task can end.
type TaskConfig struct {
	Units, UnitMS, Every int64
	// Output is the task's expected result (runner.BuiltinOutput).
	Output string
	// MinCuts is how many cuts the task must have run across when it
	// ends (default 10); Aim is how many it is spread over (default
	// MinCuts + 2). Config.Cuts is the budget: the run fails if the task
	// is not done after that many (default 2×Aim + 10).
	MinCuts, Aim int
	// Stall fails a boot whose task shows no progress for that long
	// after the store's listing (default 2 min). FinalWait is how long
	// the last boot, after the task ended, watches the runner start
	// (default 3 s): a finished task must not run again.
	Stall, FinalWait time.Duration

	step int64 // units past the resume point a write cut waits for
}

func (tc *TaskConfig) ensureDefaults(c *Config) {
	if tc.UnitMS == 0 {
		tc.UnitMS = 10
	}
	if tc.MinCuts == 0 {
		tc.MinCuts = 10
	}
	if tc.Aim == 0 {
		tc.Aim = tc.MinCuts + 2
	}
	if tc.Stall == 0 {
		tc.Stall = 2 * time.Minute
	}
	if tc.FinalWait == 0 {
		tc.FinalWait = 3 * time.Second
	}
	if c.Cuts == 0 {
		c.Cuts = 2*tc.Aim + 10
	}
	if c.Plan == nil {
		c.Plan = PlanTaskCuts(c.Seed, min(tc.Aim, c.Cuts), c.Cuts)
	}
	writes := 0
	for _, cut := range c.Plan[:min(tc.Aim, len(c.Plan))] {
		if cut.Phase == PhaseWrite {
			writes++
		}
	}
	tc.step = tc.Units/int64(writes+1) - 3*tc.Every
}

func (tc *TaskConfig) validate(c *Config) error {
	var errs []error
	if tc.Units < 1 || tc.Every < 1 || tc.UnitMS < 1 {
		errs = append(errs, fmt.Errorf("task units %d, unit_ms %d, every %d: all at least 1", tc.Units, tc.UnitMS, tc.Every))
	}
	if tc.Output == "" {
		errs = append(errs, errors.New("task output: the expected result is not set (runner.BuiltinOutput)"))
	}
	if tc.Aim < tc.MinCuts || c.Cuts < tc.Aim {
		errs = append(errs, fmt.Errorf("task cuts: min %d, aim %d, budget %d: want min <= aim <= budget", tc.MinCuts, tc.Aim, c.Cuts))
	}
	if tc.step < tc.Every {
		errs = append(errs, fmt.Errorf("a task of %d units checkpointed every %d cannot span %d cuts: a boot would run less than a checkpoint interval; give it more units", tc.Units, tc.Every, tc.Aim))
	}
	for _, cut := range c.Plan {
		if cut.Phase == PhaseCompact {
			errs = append(errs, errors.New("the task run has no compaction phase to cut"))
			break
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("powerloss config: %w", errors.Join(errs...))
	}
	return nil
}

// TaskStats are the task run's counts.
type TaskStats struct {
	Submits     int  // SUBMIT lines: boots that handed the assignment over
	Resumes     int  // RESUMED-FROM lines: starts of the attempt
	Checkpoints int  // PROGRESS lines
	Dones       int  // DONE lines
	Finished    bool // DONE, or the store said succeeded
	FinishBoot  int  // the boot in which the task ended
	Output      string
	Backwards   int   // resume points behind a checkpoint printed before a cut
	Resumed     int64 // units resumed over all starts but the first
	Problems    []string
	lastPrint   int64 // the highest checkpoint printed, so durable
	accepted    bool
}

func (s *TaskStats) problem(format string, args ...any) {
	if len(s.Problems) < maxProblems {
		s.Problems = append(s.Problems, fmt.Sprintf(format, args...))
	}
}

// TaskLedger checks the task's lines across boots: the task is submitted
// until the store knows it, every start resumes at or past the last
// checkpoint printed before it (printed only once durable), progress only
// goes forward within a boot, the task ends once, with the expected
// output, and never runs again. It does no I/O.
type TaskLedger struct {
	Task string // the task's id; "" takes the first one seen
	Want string // the expected output
	TaskStats
	lastRan int // the last boot that started the task
}

// Apply checks boot n's protocol lines.
func (l *TaskLedger) Apply(n int, lines []Line) {
	stored, storedSeen, behind := int64(-1), false, false
	var at int64 = -1 // the boot's progress so far; -1 before its start
	backwards := func(what string, done int64) {
		if done < l.lastPrint && !behind {
			behind = true
			l.Backwards++
			l.problem("boot %d: %s %d, behind the checkpoint at %d printed before the cut", n, what, done, l.lastPrint)
		}
	}
	for _, ln := range lines {
		if ln.Kind != KindTask {
			continue
		}
		if l.Task == "" {
			l.Task = ln.Task
		}
		if ln.Task != l.Task {
			l.problem("boot %d: a line for task %s, the run's is %s", n, ln.Task, l.Task)
			continue
		}
		ran := ln.Event == TaskResumed || ln.Event == TaskProgress || ln.Event == TaskDone
		if ran && l.Finished && l.FinishBoot != n {
			l.problem("boot %d: the task ran again after it ended in boot %d", n, l.FinishBoot)
		}
		switch ln.Event {
		case TaskSubmit:
			l.Submits++
			if l.accepted || l.lastPrint > 0 || l.Finished {
				l.problem("boot %d: the task was submitted again, after the store had acknowledged it", n)
			}
		case TaskAccepted:
			l.accepted = true
		case TaskStored:
			storedSeen, stored = true, ln.Done
			l.accepted = true
			backwards("the store holds a checkpoint at", ln.Done)
			switch {
			case ln.Text == "succeeded":
				l.finish(l.lastRan, n, ln.Output) // its DONE line may have died with the cut
			case l.Finished:
				l.problem("boot %d: the store says %s, after the task ended", n, ln.Text)
			}
		case TaskResumed:
			l.Resumes++
			l.lastRan = n
			if l.Resumes > 1 {
				l.Resumed += ln.Done
			}
			backwards("resumed from", ln.Done)
			if storedSeen && ln.Done != stored {
				l.problem("boot %d: resumed from %d, the store's checkpoint is at %d", n, ln.Done, stored)
			}
			at = ln.Done
		case TaskProgress:
			l.Checkpoints++
			if at < 0 || ln.Done <= at {
				l.problem("boot %d: checkpoint at %d, after progress %d", n, ln.Done, at)
			}
			at = ln.Done
			l.lastPrint = max(l.lastPrint, ln.Done)
		case TaskDone:
			l.Dones++
			if l.Dones > 1 {
				l.problem("boot %d: DONE again", n)
			}
			l.finish(n, n, ln.Output)
		case TaskFailed:
			l.problem("boot %d: the task ended without success: %s", n, ln.Text)
		}
	}
}

// finish records the task's end in boot `in`, as boot n shows it.
func (l *TaskLedger) finish(in, n int, output string) {
	if output != l.Want {
		l.problem("boot %d: the task's output is %s, want %s", n, output, l.Want)
	}
	if !l.Finished {
		l.Finished, l.FinishBoot, l.Output = true, in, output
	}
}
