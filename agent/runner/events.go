package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tether-edge/tether/agent/store"
	"github.com/tether-edge/tether/pkg/task"
)

// entry is one task the journal holds: its current attempt.
type entry struct {
	id string

	// mu serialises the task's journal writes (Run's goroutine and the
	// worker's) and guards the fields below it.
	mu    sync.Mutex
	sv    saved  // as last journaled; Attempt, Expires and Spec never change
	state string // the last journaled state ("": none yet)
	seq   uint64 // of the last journaled event
	since time.Time
	// reported is the seq of the attempt's last progress event (0: none).
	reported uint64

	// Owned by Run's goroutine.
	restarted bool                    // was running when the agent last stopped
	cancel    context.CancelCauseFunc // set while a worker runs, until reaped
	done      chan struct{}           // closed when the worker ended
	// pre is closed when the prefetch of the task's inputs ended (nil:
	// none began); preCancel ends it while it runs (prefetch.go).
	pre       chan struct{}
	preCancel context.CancelFunc
}

func (e *entry) attempt() uint32 { return e.sv.Attempt } // immutable

// current returns e's state, under its lock.
func (e *entry) current() (state string, seq uint64, since time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state, e.seq, e.since
}

func terminal(state string) bool {
	return state == task.EventSucceeded || state == task.EventFailed || state == task.EventCancelled ||
		state == task.EventYielded
}

// journalLocked journals e's transition to `to` with ev as its event
// (Task, Attempt and State are filled in here), saving e.sv with it when
// save is set. The caller holds e.mu. A failure is logged and returned;
// e's state is then unchanged.
func (r *Runner) journalLocked(e *entry, to, detail string, save bool, ev task.Event) error {
	var blob []byte
	if save {
		var err error
		if blob, err = e.sv.encode(); err != nil {
			r.log.Error("task state not journaled", "task", e.id, "attempt", e.sv.Attempt, "to", to, "err", err)
			return err
		}
	}
	ev.Task, ev.Attempt, ev.State = e.id, e.sv.Attempt, to
	ev.Error = clip(ev.Error, task.MaxError)
	now := r.opts.Now()
	t := store.Transition{Attempt: e.sv.Attempt, From: e.state, To: to, At: now, Detail: clip(detail, store.MaxDetailLen)}
	from := r.st.PendingFrom()
	rec, err := r.st.Journal(context.Background(), e.id, t, blob, r.build(ev, from))
	if err != nil {
		r.log.Error("task state not journaled", "task", e.id, "attempt", e.sv.Attempt, "to", to, "err", err)
		return err
	}
	e.state, e.seq, e.since = to, rec.Seq, now
	r.opts.Notify()
	r.log.Debug("task event", "task", e.id, "attempt", e.sv.Attempt, "state", to, "seq", rec.Seq, "detail", t.Detail)
	return nil
}

// send commits a task event that changes no state: a refusal, or an
// answer to a repeated assignment or cancel.
func (r *Runner) send(ev task.Event) {
	ev.Error = clip(ev.Error, task.MaxError)
	from := r.st.PendingFrom()
	if _, err := r.st.Append(context.Background(), store.KindTaskEvent, r.build(ev, from)); err != nil {
		r.log.Error("task event not sent", "task", ev.Task, "attempt", ev.Attempt, "state", ev.State, "err", err)
		return
	}
	r.opts.Notify()
}

// reportProgress sends a progress event of e's running attempt: done of
// total (0 of 0: the task reports none). It journals nothing: the
// progress a resumed attempt starts from is its checkpoint's. It is
// skipped while the previous one is still in the outbox, so a node cut
// off from its broker holds at most one per running task.
func (r *Runner) reportProgress(e *entry, done, total int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != task.EventRunning && e.state != task.EventCheckpoint {
		return
	}
	from := r.st.PendingFrom()
	if e.reported != 0 && e.reported >= from {
		return
	}
	ev := task.Event{Task: e.id, Attempt: e.sv.Attempt, State: task.EventProgress, Progress: done, Total: total}
	rec, err := r.st.Append(context.Background(), store.KindTaskEvent, r.build(ev, from))
	if err != nil {
		r.log.Debug("task progress not sent", "task", e.id, "attempt", e.sv.Attempt, "err", err)
		return
	}
	e.reported = rec.Seq
	r.opts.Notify()
}

// everyProgress calls report every ProgressInterval (never when it is 0)
// until the returned stop, which returns once no call is under way.
func (r *Runner) everyProgress(report func()) (stop func()) {
	if r.opts.ProgressInterval <= 0 {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(r.opts.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				report()
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// resend answers a repeated assignment or cancel of e's attempt with its
// current state, ordered with the worker's events by e.mu.
func (r *Runner) resend(e *entry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ev := task.Event{Task: e.id, Attempt: e.sv.Attempt, State: e.state, Progress: e.sv.Progress, Total: e.sv.Total}
	if terminal(e.state) {
		ev.Result, ev.Error = e.sv.Result, e.sv.Error
	}
	r.send(ev)
}

// build makes an event's payload with its header; it runs under the
// store's seq lock. An event that would exceed the message limit (output
// escaped by JSON at its worst) loses its tails, then its checkpoint.
func (r *Runner) build(ev task.Event, from uint64) func(seq uint64) (string, []byte, error) {
	return func(seq uint64) (string, []byte, error) {
		ev.Header = r.opts.Header(seq, from)
		b, err := json.Marshal(ev)
		if err == nil && len(b) > task.MaxMessage && ev.Result != nil {
			res := *ev.Result
			res.Stdout, res.Stderr = tailString([]byte(res.Stdout), 256), tailString([]byte(res.Stderr), 256)
			ev.Result = &res
			b, err = json.Marshal(ev)
		}
		if err == nil && len(b) > task.MaxMessage {
			ev.Checkpoint = nil
			b, err = json.Marshal(ev)
		}
		if err != nil {
			return "", nil, fmt.Errorf("encode task event: %w", err)
		}
		return r.topic, b, nil
	}
}

// clip cuts s to at most n bytes, at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// eventCheckpoint is the checkpoint a checkpoint event carries: the state
// when it is within the limit, else none (it stays on the node).
func (r *Runner) eventCheckpoint(state []byte) []byte {
	if len(state) > r.opts.CheckpointLimit {
		return nil
	}
	return state
}
