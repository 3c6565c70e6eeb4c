package taskengine

import "context"

// Counts returns how many tasks the engine holds in each state: the
// unfinished ones, and finished ones until their status is announced.
func (e *Engine) Counts() map[string]int {
	c := map[string]int{}
	for _, en := range e.tasks {
		c[en.t.State]++
	}
	return c
}

// Counts asks the engine's goroutine for Engine.Counts; nil once Run has
// returned or ctx ended.
func (s *Service) Counts(ctx context.Context) map[string]int {
	ch := make(chan map[string]int, 1)
	s.do(func(e *Engine) { ch <- e.Counts() })
	select {
	case c := <-ch:
		return c
	case <-s.stopped:
	case <-ctx.Done():
	}
	return nil
}

// Unplaced returns how many times placement found no node for a pending
// task since the engine was made (a task is tried again on every pass, so
// one task stuck pending counts many times). Safe from any goroutine.
func (e *Engine) Unplaced() uint64 { return e.unplaced.Load() }

// Unplaced is Engine.Unplaced.
func (s *Service) Unplaced() uint64 { return s.eng.Unplaced() }

// Unplaceable returns how many pending tasks the latest placement of each
// found no node for: tasks that fit nowhere now (a task leaves the count
// when placed, cancelled or expired). Safe from any goroutine.
func (e *Engine) Unplaceable() int64 { return e.stuck.Load() }

// Unplaceable is Engine.Unplaceable.
func (s *Service) Unplaceable() int64 { return s.eng.Unplaceable() }

// setStuck records whether en's latest placement found no node.
func (e *Engine) setStuck(en *entry, stuck bool) {
	if en.stuck == stuck {
		return
	}
	en.stuck = stuck
	if stuck {
		e.stuck.Add(1)
	} else {
		e.stuck.Add(-1)
	}
}

// Preempted returns how many running attempts were taken back so a deadline
// task could meet its deadline. Safe from any goroutine.
func (e *Engine) Preempted() uint64 { return e.preempted.Load() }

// Preempted is Engine.Preempted.
func (s *Service) Preempted() uint64 { return s.eng.Preempted() }
