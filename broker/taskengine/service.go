package taskengine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
)

// Service runs the engine over MQTT: it takes decoded requests, events and
// fleet changes from the session's handlers, applies them on one goroutine,
// commits what they changed in one Badger transaction per round (group
// commit: everything that arrived while the previous commit was on its
// way shares the next one), then hands the round's messages to the
// publisher. A round's messages are published only after its commit
// returned.
type Service struct {
	eng    *Engine
	store  *Store
	pub    *publisher
	log    *slog.Logger
	topics protocol.Topics
	before func(task.SubmitRequest) // Options.BeforeSubmit; may be nil

	in      chan func(*Engine) // inputs, applied in order on Run's goroutine
	stopped chan struct{}      // closed when Run returns
	stop    sync.Once
	// waiting are Committed's waiters in the round being applied, closed
	// once its commit returned; only Run's goroutine touches it.
	waiting []chan struct{}

	rounds, inputs uint64 // read by tests after Run returned; rounds counts commits
}

// ServiceOptions are the engine's options; Finished is the store's and
// Logger, Topics and Now are shared.
type ServiceOptions = Options

// tickEvery is how often timers (acknowledgements, timeouts, grace,
// backoff) are checked: their precision.
const tickEvery = 500 * time.Millisecond

// maxRound bounds the inputs applied in one round, so one commit stays
// small and the first input's wait bounded.
const maxRound = 2048

// NewService returns a service over the store (with what it loaded) and
// the MQTT session. o.Finished is set to the store's. It fails as New.
func NewService(st *Store, ld Loaded, sess *session.Session, o ServiceOptions) (*Service, error) {
	o.Finished, o.FinishedAfter = st.Finished, st.FinishedAfter
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	eng, err := New(o, ld)
	if err != nil {
		return nil, err
	}
	s := &Service{eng: eng, store: st, log: o.Logger.With("component", "tasks"), topics: o.Topics, before: o.BeforeSubmit,
		in: make(chan func(*Engine), 4096), stopped: make(chan struct{})}
	s.pub = newPublisher(sess, s.log, func(id string) { s.do(func(e *Engine) { e.Announced(id) }) })
	if ld.Damaged > 0 {
		s.log.Error("task store records could not be read back: those tasks are not scheduled", "records", ld.Damaged)
	}
	s.log.Info("task store loaded", "unfinished", len(ld.Active), "fences", len(ld.Fences))
	return s, nil
}

// do queues an input. It waits while the queue is full (backpressure on
// the session's receive path) and drops the input once Run has returned.
func (s *Service) do(f func(*Engine)) {
	select {
	case s.in <- f:
	case <-s.stopped:
	}
}

// HandleSubmit takes a message of the submit topic. It returns an error
// for a message it cannot answer — not a submit request, or a reply topic
// outside this region's replies — which the caller counts as invalid. A
// request it can answer but not accept (an invalid spec) gets a reply
// saying why.
func (s *Service) HandleSubmit(payload []byte) error {
	req, err := task.DecodeSubmitRequest(payload)
	if err != nil {
		return s.refuse(payload, err)
	}
	if err := s.checkReplyTo(req.ReplyTo); err != nil {
		return err
	}
	if s.before != nil {
		s.before(req)
	}
	s.do(func(e *Engine) { e.Submit(req) })
	return nil
}

// HandleControl takes a message of the control topic, as HandleSubmit.
func (s *Service) HandleControl(payload []byte) error {
	req, err := task.DecodeControlRequest(payload)
	if err != nil {
		return s.refuse(payload, err)
	}
	if err := s.checkReplyTo(req.ReplyTo); err != nil {
		return err
	}
	s.do(func(e *Engine) { e.Control(req) })
	return nil
}

// ErrRetained refuses a request published with the retain flag.
var ErrRetained = errors.New("a retained request is refused: publish requests without the retain flag " +
	"(the broker would deliver a retained one again at every start of the scheduler); the retained copy was cleared")

// HandleRetained takes a request that came retained, on topic: it is
// never applied — the broker would deliver it again at every start of the
// scheduler, a new task each time. The retained copy is cleared, and the
// requester answered if the request says where (else the error is
// returned, as by HandleSubmit).
func (s *Service) HandleRetained(topic string, payload []byte) error {
	s.do(func(e *Engine) { e.clearRetained(topic) })
	return s.refuse(payload, ErrRetained)
}

// refuse answers a request that did not decode, if it says where to: its
// request id and reply topic are valid. Otherwise it returns err.
func (s *Service) refuse(payload []byte, err error) error {
	if len(payload) > task.MaxMessage {
		return err
	}
	var h struct {
		RequestID string `json:"request_id"`
		ReplyTo   string `json:"reply_to"`
	}
	if json.Unmarshal(payload, &h) != nil || protocol.ValidateID("request id", h.RequestID) != nil {
		return err
	}
	r, perr := task.ParseReplyTo(h.ReplyTo)
	if perr != nil || r.Request != h.RequestID || r.Region != s.topics.Region() {
		return err
	}
	s.do(func(e *Engine) { e.Refuse(h.ReplyTo, h.RequestID, err) })
	return nil
}

// checkReplyTo refuses a reply topic in another region's tree: the
// decoders accept only replies subtrees (task.ParseReplyTo).
func (s *Service) checkReplyTo(topic string) error {
	r, err := task.ParseReplyTo(topic)
	if err != nil {
		return err
	}
	if r.Region != s.topics.Region() {
		return fmt.Errorf("reply_to %q is in region %q, this scheduler serves %q", topic, r.Region, s.topics.Region())
	}
	return nil
}

// HandleEvent takes an agent's event: decoded (task.DecodeEvent), from
// the node its topic names, and new in the node's sequence.
func (s *Service) HandleEvent(ev task.Event) { s.do(func(e *Engine) { e.Event(ev) }) }

// UpdateNode takes what the fleet says of one node after it changed.
func (s *Service) UpdateNode(n NodeState) { s.do(func(e *Engine) { e.UpdateNode(n) }) }

// SyncNodes takes the fleet's whole view (every second or so).
func (s *Service) SyncNodes(all []NodeState) { s.do(func(e *Engine) { e.SyncNodes(all) }) }

// ErrStopped: the service stopped before what was asked of it was
// committed.
var ErrStopped = errors.New("tasks: service stopped")

// Committed waits until every input queued before it (by this goroutine:
// HandleEvent, HandleSubmit, …) is committed to the store, so a caller can
// acknowledge it knowing a crash cannot lose it. Inputs share commits, so
// many waiters cost one commit. It returns ErrStopped when Run returned
// first (a failed commit, or the end of Run's context).
func (s *Service) Committed(ctx context.Context) error {
	done := s.wait()
	select {
	case <-done:
		return nil
	case <-s.stopped:
	case <-ctx.Done():
	}
	select {
	case <-done: // committed as Run stopped
		return nil
	default:
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return ErrStopped
}

// wait queues a waiter behind the inputs this goroutine queued before:
// closed once they are committed.
func (s *Service) wait() chan struct{} {
	done := make(chan struct{})
	s.do(func(*Engine) { s.waiting = append(s.waiting, done) })
	return done
}

// AfterCommit calls fn, on a goroutine of its own, once every input queued
// before it (by this goroutine, as for Committed) is committed to the
// store — without waiting for that itself. fn is never called when Run
// returns first without committing them: what fn would acknowledge then
// stays unacknowledged, for its sender to send again.
func (s *Service) AfterCommit(fn func()) {
	done := s.wait()
	go func() {
		select {
		case <-done:
			fn()
		case <-s.stopped:
			select {
			case <-done: // committed as Run stopped
				fn()
			default:
			}
		}
	}()
}

// Quarantined returns the nodes in quarantine and until when, as the
// engine's goroutine sees them; nil once Run has returned.
func (s *Service) Quarantined(ctx context.Context) map[string]time.Time {
	ch := make(chan map[string]time.Time, 1)
	s.do(func(e *Engine) { ch <- e.Quarantined() })
	select {
	case q := <-ch:
		return q
	case <-s.stopped:
	case <-ctx.Done():
	}
	return nil
}

// Run applies inputs until ctx ends; it returns nil then. It returns an
// error when a commit fails: the engine is then ahead of the store, and
// the scheduler must stop (a restart reloads what was committed; nothing
// uncommitted was announced).
//
// Commits are pipelined: while one round's commit is under way (on the
// committer's goroutine), the inputs that arrive are applied; when it
// returns, everything applied since is placed and committed as the next
// round. Rounds are committed, and their messages published, in order,
// each only after its commit returned; Committed's waiters are released
// with the round that applied what they wait for.
func (s *Service) Run(ctx context.Context) error {
	defer s.stop.Do(func() { close(s.stopped) })
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.pub.run(ctx)
	}()
	// The publisher ends with ctx: cancel it before waiting, or a Run
	// returning a failed commit's error (its caller's ctx still live)
	// would wait for it forever — a scheduler still connected, holding
	// the region's lease, applying nothing.
	defer func() {
		cancel()
		wg.Wait()
	}()
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	if err := s.flush(); err != nil { // re-publish what the store holds
		return err
	}
	c := newCommitter(s)
	defer c.stop()
	busy := false // a round is with the committer
	applied := 0  // inputs applied since the last round was taken
	for {
		in := s.in
		if applied >= maxRound {
			in = nil // the round is full: wait for the committer
		}
		select {
		case <-ctx.Done():
			// Let the round under way finish, then commit what was
			// applied since: the engine is never left ahead of the store.
			if busy {
				if err := c.wait(s.eng); err != nil {
					return err
				}
			}
			return s.flush()
		case f := <-in:
			f(s.eng)
			s.inputs++
			applied++
		drain:
			for applied < maxRound {
				select {
				case f := <-s.in:
					f(s.eng)
					s.inputs++
					applied++
				default:
					break drain
				}
			}
		case <-tick.C:
			s.eng.Tick()
		case r := <-c.done:
			busy = false
			if err := c.finish(s.eng, r); err != nil {
				return err
			}
		}
		if !busy {
			s.eng.Settle()
			r, err := s.take()
			if err != nil {
				return err
			}
			applied = 0
			if !r.empty() {
				c.jobs <- r
				busy = true
			}
		}
	}
}

// round is a batch taken from the engine and the waiters of the inputs
// it holds.
type round struct {
	b       Batch
	waiting []chan struct{}
}

func (r round) empty() bool { return r.b.Empty() && len(r.waiting) == 0 }

// take takes the engine's batch and the waiters applied with it.
func (s *Service) take() (round, error) {
	b, err := s.eng.TakeAhead()
	if err != nil {
		return round{}, fmt.Errorf("tasks: %w", err)
	}
	r := round{b: b, waiting: s.waiting}
	s.waiting = nil
	return r, nil
}

// commit makes r durable, then releases its waiters and queues its
// messages.
func (s *Service) commit(r round) error {
	if err := s.store.Commit(r.b.units); err != nil {
		s.log.Error("task store commit failed: stopping (a restart reloads what was committed)", "err", err)
		return err
	}
	s.rounds++
	for _, w := range r.waiting {
		close(w)
	}
	s.pub.enqueue(r.b.Msgs)
	return nil
}

// flush commits what the engine holds on Run's goroutine: nothing may be
// with the committer.
func (s *Service) flush() error {
	r, err := s.take()
	if err != nil {
		return err
	}
	if err := s.commit(r); err != nil {
		return err
	}
	s.eng.Durable(r.b)
	return nil
}

// committer commits the rounds Run hands it, one at a time, in order, on
// a goroutine of its own; Run hands it the next round only after done
// said the last one returned.
type committer struct {
	jobs chan round
	done chan committed
	quit chan struct{}
	wg   sync.WaitGroup
}

// committed is a round's commit returned: err nil, durable.
type committed struct {
	r   round
	err error
}

func newCommitter(s *Service) *committer {
	c := &committer{jobs: make(chan round, 1), done: make(chan committed, 1), quit: make(chan struct{})}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case r := <-c.jobs:
				c.done <- committed{r: r, err: s.commit(r)}
			case <-c.quit:
				return
			}
		}
	}()
	return c
}

// finish tells the engine r's commit returned.
func (c *committer) finish(e *Engine, r committed) error {
	if r.err != nil {
		return r.err
	}
	e.Durable(r.r.b)
	return nil
}

// wait waits for the round with the committer to return.
func (c *committer) wait(e *Engine) error { return c.finish(e, <-c.done) }

// stop ends the committer's goroutine; no round may be with it.
func (c *committer) stop() {
	close(c.quit)
	c.wg.Wait()
}
