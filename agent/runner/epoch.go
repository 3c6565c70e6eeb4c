package runner

import (
	"github.com/tether-edge/tether/pkg/task"
)

// The epoch contract (docs/tasks.md, "Leadership epochs"). A region with
// several schedulers has one leader at a time; each leadership term has
// an epoch, higher than every earlier one, which the leader puts in the
// signed body of every assignment it sends. This node keeps the highest
// epoch it has accepted in its store, and:
//
//   - Epoch 0 is always accepted and changes nothing: it is a scheduler
//     without high availability, the only one of its region. A leader of a
//     region with several schedulers never sends 0, so 0 cannot be used to
//     slip past the check.
//   - An assignment, run or cancel, whose epoch is below the highest is a
//     deposed leader's: refused, without acting on it and without an
//     event (its task and attempt may be the new leader's too, and a
//     refused event for them would end the new leader's attempt).
//   - One whose epoch is above the highest raises it, durably, before the
//     runner acts on it: a restart cannot bring the lower epoch back. If
//     the raise cannot be stored the assignment is not acted on; the
//     leader sends it again.
//
// It runs after task.Verify: only an assignment signed by a pinned key,
// for this node and within its window can move the epoch, so a forged
// envelope claiming a high epoch raises nothing.

// epochAccepted applies the epoch contract to a verified assignment: false
// if the runner must not act on it.
func (r *Runner) epochAccepted(a task.Assignment) bool {
	if a.Epoch == 0 {
		return true
	}
	highest := r.st.Epoch()
	switch {
	case a.Epoch < highest:
		n := r.staleEpochs.Add(1)
		if r.limits.allow() { // a deposed leader may still send a burst; the payload is not logged
			r.log.Warn("task assignment refused: its epoch is stale, from a deposed scheduler",
				"task", a.Task, "attempt", a.Attempt, "op", a.Op, "epoch", a.Epoch, "highest_epoch", highest,
				"stale_total", n, "suppressed_since_last", r.limits.suppressed())
		}
		return false
	case a.Epoch > highest:
		if err := r.st.RaiseEpoch(a.Epoch); err != nil {
			if r.limits.allow() {
				r.log.Error("task assignment not acted on: its epoch could not be stored; the scheduler sends it again",
					"task", a.Task, "attempt", a.Attempt, "epoch", a.Epoch, "err", err)
			}
			return false
		}
		r.log.Info("scheduler epoch raised", "epoch", a.Epoch, "previous", highest)
	}
	return true
}

// StaleEpochs returns how many verified assignments this runner refused
// for an epoch below the highest it had accepted. Safe for concurrent use.
func (r *Runner) StaleEpochs() uint64 { return r.staleEpochs.Load() }
