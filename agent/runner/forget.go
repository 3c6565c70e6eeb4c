package runner

import "github.com/tether-edge/tether/pkg/task"

// forget deletes the tasks whose end the scheduler has, so the journal
// does not grow without bound: a finished task goes once its last event
// was acknowledged by the broker — or, if that never happens, after the
// retention — and once its assignment expired, so a replay of the
// assignment is refused rather than run again.
func (r *Runner) forget() {
	now := r.opts.Now()
	for id, e := range r.tasks {
		if e.cancel != nil {
			continue // its worker is still winding down
		}
		state, seq, since := e.current()
		if !terminal(state) || now.Before(e.sv.Expires.Add(task.ClockSkew)) {
			continue
		}
		if !r.acked(seq) && now.Sub(since) < r.opts.Retention {
			continue
		}
		if err := r.st.ForgetTask(id); err != nil {
			r.log.Warn("finished task not forgotten", "task", id, "err", err)
			continue
		}
		delete(r.tasks, id)
		r.log.Debug("finished task forgotten", "task", id, "attempt", e.attempt(), "state", state)
	}
}

// acked reports whether the outbox record seq was acknowledged by the
// broker: it is no longer pending.
func (r *Runner) acked(seq uint64) bool {
	recs, err := r.st.Pending(seq-1, 1)
	return err == nil && (len(recs) == 0 || recs[0].Seq != seq)
}
