package runner

import (
	"time"

	"github.com/tether-edge/tether/pkg/blob"
)

// collectBlobs runs Options.CollectBlobs once CollectEvery has passed
// since the last time (the first time one CollectEvery after Run began),
// keeping the inputs and outputs of every task the journal holds: a task
// queued or running needs its inputs, a finished one's outputs wait for
// the scheduler's fetch until the task is forgotten.
func (r *Runner) collectBlobs() {
	if r.opts.CollectBlobs == nil {
		return
	}
	now := time.Now() // monotonic
	if r.collected.IsZero() {
		r.collected = now
		return
	}
	if now.Sub(r.collected) < r.opts.CollectEvery {
		return
	}
	r.collected = now
	refs := map[blob.ID]struct{}{}
	for _, e := range r.tasks {
		e.mu.Lock()
		for _, in := range e.sv.Spec.Inputs {
			refs[in.Blob] = struct{}{}
		}
		if e.sv.Result != nil {
			for _, id := range e.sv.Result.Outputs {
				refs[id] = struct{}{}
			}
		}
		e.mu.Unlock()
	}
	r.opts.CollectBlobs(func(id blob.ID) bool {
		_, ok := refs[id]
		return ok
	})
}
