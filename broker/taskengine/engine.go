package taskengine

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
)

// Options configure an Engine. Zero durations take the defaults below;
// Placer alone has none and must be given.
type Options struct {
	Topics protocol.Topics
	// Key signs assignments. Without one no task is placed: tasks stay
	// pending (and an error is logged once a minute) until the scheduler
	// is restarted with a key.
	Key ed25519.PrivateKey
	// Placer chooses each task's node (tether-broker serve's is
	// broker/place/live's). Required: New refuses options without one.
	Placer Placer
	// Finished reads a finished task from the store (nil, nil: none); the
	// engine keeps only unfinished tasks in memory.
	Finished func(id string) (*Task, error)
	// FinishedAfter lists finished tasks from the store by id, for
	// pages of the task list (nil: none).
	FinishedAfter func(after string, limit int) ([]*Task, error)
	// Now is the wall clock, which stamps what is stored and shown;
	// Elapsed is the monotonic clock every interval is measured on (time
	// since any fixed origin). nil: time.Now and the process's monotonic
	// clock (clock.go).
	Now     func() time.Time
	Elapsed func() time.Duration
	NewID   func() string // nil: a ULID
	Logger  *slog.Logger

	// Grace is how long a node may be offline (its will, a goodbye, or
	// an overdue heartbeat, as the fleet says) before its tasks are
	// re-queued as new attempts elsewhere. Default 30 s.
	Grace time.Duration
	// AckTimeout is how long an assignment may go without an accepted
	// (or later) event before it is sent again; after AckResends
	// re-sends the attempt is abandoned and the task re-queued. Default
	// 30 s and 3.
	AckTimeout time.Duration
	AckResends int
	// Expiry is how long after it is issued an assignment may still be
	// acted on by an agent. Default 10 min.
	Expiry time.Duration
	// YieldWait is how long a preempted attempt's node has to yield it —
	// save a checkpoint, stop it, report it yielded (yield.go) — before
	// the attempt is cancelled and fenced instead, and the task resumes
	// from the checkpoint the scheduler had. Default 2 s; negative: no
	// yield, the attempt is cancelled at once.
	YieldWait time.Duration
	// BackoffBase and BackoffCap shape the delay before a failed task's
	// next attempt: base × 2^(failures−1), at most cap. Default 5 s and
	// 5 min.
	BackoffBase time.Duration
	BackoffCap  time.Duration
	// StartTimeout and ProgressTimeout bound how long an attempt may show
	// no life (quarantine.go): accepted but not running, running a task
	// that promises progress without reporting any. QuarantineAfter
	// failures of a node in a row quarantine it for Quarantine. Defaults
	// 3 min, 3 min, 3 and 10 min.
	StartTimeout    time.Duration
	ProgressTimeout time.Duration
	QuarantineAfter int
	Quarantine      time.Duration
	// Limits bound what nodes claim: slots and speed.
	Limits Limits
	// MaxPending is how many tasks may wait pending at once; a submission
	// beyond it is refused as "queue full". Default 50,000.
	MaxPending int
	// BeforeSubmit, when set, is called by Service.HandleSubmit with each
	// submit request it decoded, before the engine takes it (the scheduler
	// marks the request's inputs as just used there).
	BeforeSubmit func(task.SubmitRequest)
	// NodeQueue is how many of the scheduler's tasks beyond its slots a
	// node may be assigned, to wait in its agent's queue (NodeState.Queue): a
	// pass counts that room as well as free slots, and a Placer that
	// queues places within it (FitsQueued). 0, the default: a node is
	// assigned at most its slots.
	NodeQueue int
	// Epoch is the leadership term this engine schedules in, from the
	// schedulers' consensus: every assignment (run and cancel, re-sends
	// and fence cancels included) and every task status it publishes
	// carries it, and an agent refuses an assignment of a lower non-zero
	// epoch than it has accepted. It is fixed for the engine's life: a new
	// term is a new engine. 0, the default: a scheduler without high
	// availability, whose messages carry no epoch. At most protocol.MaxSeq.
	Epoch uint64
}

// Defaults of Options.
const (
	DefaultGrace      = 30 * time.Second
	DefaultAckTimeout = 30 * time.Second
	DefaultAckResends = 3
	DefaultExpiry     = 10 * time.Minute
	// DefaultYieldWait covers an agent's round trip and a checkpoint
	// (a builtin stops within a unit; an exec task within
	// tasks.kill_grace of its SIGTERM), and is short beside the deadlines
	// preemption serves: it is the most it may delay the task it serves.
	DefaultYieldWait   = 2 * time.Second
	DefaultBackoffBase = 5 * time.Second
	DefaultBackoffCap  = 5 * time.Minute
	// DefaultMaxPending bounds the central queue, which the scheduler
	// holds in memory with every task's spec.
	DefaultMaxPending = 50000
)

// errNoPlacer refuses Options without a Placer.
var errNoPlacer = errors.New("tasks: Options.Placer is nil: the engine needs a Placer to place tasks (broker/place/live)")

// validate checks what ensureDefaults cannot fill in.
func (o *Options) validate() error {
	if o.Placer == nil {
		return errNoPlacer
	}
	if o.Epoch > protocol.MaxSeq {
		return fmt.Errorf("tasks: Options.Epoch %d is above %d", o.Epoch, uint64(protocol.MaxSeq))
	}
	return nil
}

func (o *Options) ensureDefaults() {
	if o.Finished == nil {
		o.Finished = func(string) (*Task, error) { return nil, nil }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Elapsed == nil {
		o.Elapsed = monotonic()
	}
	if o.NewID == nil {
		o.NewID = func() string { return ulid.Make().String() }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.YieldWait == 0 {
		o.YieldWait = DefaultYieldWait
	}
	def(&o.Grace, DefaultGrace)
	def(&o.AckTimeout, DefaultAckTimeout)
	def(&o.Expiry, DefaultExpiry)
	def(&o.BackoffBase, DefaultBackoffBase)
	def(&o.BackoffCap, DefaultBackoffCap)
	def(&o.StartTimeout, DefaultStartTimeout)
	def(&o.ProgressTimeout, DefaultProgressTimeout)
	def(&o.Quarantine, DefaultQuarantine)
	if o.QuarantineAfter <= 0 {
		o.QuarantineAfter = DefaultQuarantineAfter
	}
	if o.AckResends <= 0 {
		o.AckResends = DefaultAckResends
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	o.Limits.ensureDefaults()
}

// Engine is the task lifecycle: it turns submissions, cancellations, agent
// events, fleet changes and the passing of time into transitions of its
// tasks, and each transition into the writes that persist it and the
// messages that announce it. It does no I/O and starts no goroutines: the
// Service calls it from one goroutine, commits what Take returns, and only
// then publishes the messages — every transition is persisted before it is
// announced.
//
// A task's lifecycle (task.State*); the attempt history is kept beside it:
//
//	submit ──▶ pending ──place──▶ assigned ──running / checkpoint event──▶ running
//	             ▲  ▲                 │  (an accepted event acks it)          │
//	             │  │                 ▼                                       ▼
//	             │  └──── a new attempt, using no retry: node lost past ◀─────┤
//	             │        the grace, no ack after the re-sends, the node      │
//	             │        gave it up, preempted (yielded or taken back)       │
//	             └─────── after the backoff, retries left: failed, ◀──────────┤
//	                      refused, timed out                                  ▼
//	             succeeded │ failed (no retry left) │ cancelled (by request, any time)
//
// An attempt that ends while its node may still run it (node lost, timed
// out, not acknowledged, cancelled by request) is fenced: its events are
// recorded in the history but never applied, and its node is sent an
// AssignCancel now if it is online, else when it comes back.
type Engine struct {
	opts Options
	log  *slog.Logger
	// unplaced counts the placements that found no node (the task stays
	// pending and is tried again): read from other goroutines (Unplaced).
	unplaced atomic.Uint64
	// stuck counts the pending tasks whose latest placement found no
	// node (entry.stuck): the gauge of tasks that fit nowhere now.
	stuck atomic.Int64
	// preempted counts the attempts taken back for another task
	// (Preempted).
	preempted atomic.Uint64
	// victimSearches is how many more preemptions this placement pass (or
	// submission) may look for (maxVictimSearches).
	victimSearches int
	// The Placer's optional capabilities, nil when it has none.
	observer  Observer
	policies  PolicyChecker
	preempter Preempter
	queue     Queue
	admitter  Admitter
	// preemptWaiting: the preempter preempts for any task that would
	// wait, not only for a deadline (WaitPreempter).
	preemptWaiting bool
	// ahead is the work of the pending tasks the current placement pass
	// has passed over (Request.Ahead); 0 outside a pass.
	ahead float64

	tasks  map[string]*entry            // unfinished tasks, and finished ones until their status is announced
	nodes  map[string]*engineNode       // nodes the fleet reported or tasks reference
	fences map[string]map[string]*Fence // node → task → fence
	// yields are the attempts asked to yield, by task (yield.go);
	// awaiting maps each task waiting for a yield to its victim; handoffs
	// are the tasks to place first in the next Settle, their victims'
	// attempts ended.
	yields   map[string]*yielding
	awaiting map[string]string
	handoffs []string
	cands    []*Candidate // online nodes with facts; nil: rebuild
	// The engine's start (loaded) on the wall and the monotonic clock.
	startWall time.Time
	elapsed0  time.Duration

	pending  int     // tasks in memory in state pending (entry.pending)
	qChanged bool    // the nodes in quarantine changed: Take announces them
	placeDue bool    // something changed that may let a pending task be placed
	lastPass instant // the last placement pass
	noKeyLog instant // when "no signing key" was last logged
	oddAt    instant // when a dropped event was last logged (odd)
	oddHeld  int     // dropped events not logged since

	// What Take hands out next.
	dirty []*entry
	units []Unit
	msgs  []Message
	// taken counts the batches taken; leaving are the finished tasks
	// that leave memory once the batch entry.leave is durable (Durable).
	taken   uint64
	leaving []*entry
}

// Message is an MQTT message to publish once the batch that made it is
// committed. Finished, if set, names a finished task whose final status
// this is: when the broker acknowledged it, the Service calls Announced.
type Message struct {
	session.Message
	Finished string
}

// entry is a task in memory.
type entry struct {
	t  *Task
	cp *Checkpoint // latest checkpoint, nil: none
	// stored says the record is under a/; moving, that it leaves a/
	// for f/ in the next batch.
	stored, moving bool
	// write: the record (and cpWrite: its checkpoint) must be written;
	// announce: its status must be published; queued: en is in dirty.
	write, cpWrite, announce, queued bool
	charge                           charge // what the current attempt charges its node
	pending                          bool   // counted in Engine.pending
	// stuck: pending, and the latest placement found no node for it
	// (counted in Engine.stuck).
	stuck bool
	// key is the Queue's key of the task while keyed; a transition
	// (mark) clears keyed, as the key may change with it.
	key   float64
	keyed bool
	// alive is when the current attempt last showed life: its
	// assignment, its start, a progress report (or the engine's start).
	alive instant
	// sentAt, started and notBefore are t.SentAt, t.Started and
	// t.NotBefore on the monotonic clock, which the engine measures by.
	sentAt, started, notBefore instant
	// leave is the batch after whose commit the finished task leaves
	// memory (0: it stays): until then the store may not hold it yet.
	leave uint64
}

// New returns an engine holding what the store loaded. It fails only on
// options without a Placer.
func New(o Options, ld Loaded) (*Engine, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	o.ensureDefaults()
	e := &Engine{
		opts: o, log: o.Logger.With("component", "tasks"),
		tasks: map[string]*entry{}, nodes: map[string]*engineNode{}, fences: map[string]map[string]*Fence{},
		yields: map[string]*yielding{}, awaiting: map[string]string{},
		startWall: o.Now().UTC(), elapsed0: o.Elapsed(), placeDue: true, qChanged: true,
	}
	e.observer, _ = o.Placer.(Observer)
	e.policies, _ = o.Placer.(PolicyChecker)
	e.preempter, _ = o.Placer.(Preempter)
	e.queue, _ = o.Placer.(Queue)
	e.admitter, _ = o.Placer.(Admitter)
	if w, ok := o.Placer.(WaitPreempter); ok {
		e.preemptWaiting = w.PreemptsWaiting()
	}
	for _, t := range ld.Active {
		en := &entry{t: t, cp: ld.Checkpoints[t.Spec.ID], stored: true, alive: startInstant,
			sentAt: e.restored(t.SentAt), started: e.restored(t.Started), notBefore: e.restored(t.NotBefore)}
		e.tasks[t.Spec.ID] = en
		e.mark(en, false) // re-publish every status the store holds
		switch t.State {
		case task.StateAssigned, task.StateRunning:
			e.chargeNode(en)
			if e.observer != nil {
				e.observer.AttemptAssigned(Attempt{Task: t.Spec.ID, Attempt: t.Attempt, Node: t.Node,
					Request: e.request(en, t.Resumed), Started: t.Started})
			}
			// The assignment may never have left, or the node's last
			// events may have been acknowledged by the broker and lost
			// with the scheduler before they were committed: send it
			// again (the agent answers a repeated assignment with the
			// attempt's current state, and never runs it twice), and give
			// the agent a full ack timeout from now.
			e.sendRun(en, false)
		}
	}
	for _, q := range ld.Quarantine {
		n := e.node(q.Node)
		n.until, n.untilAt, n.strikes = q.Until.UTC(), e.restored(q.Until), q.Failures
	}
	for _, f := range ld.Fences {
		f.sent = e.restored(f.SentAt)
		e.fenceMap(f.Node)[f.Task] = f
		e.node(f.Node)
	}
	return e, nil
}

// mark queues en's status for announcement and, with write, its record
// for writing. Transitions call touch instead.
func (e *Engine) mark(en *entry, write bool) {
	en.keyed = false
	if p := en.t.State == task.StatePending; p != en.pending {
		en.pending = p
		if p {
			e.pending++
		} else {
			e.pending--
		}
	}
	if en.t.State != task.StatePending {
		e.setStuck(en, false)
	}
	en.announce = true
	en.write = en.write || write
	e.enqueue(en)
}

// touch marks a transition of en: updated now, written and announced.
// Updated never goes back: a wall clock stepped back (NTP) would stamp a
// status updated before it was submitted, which no decoder accepts.
func (e *Engine) touch(en *entry) {
	en.t.Updated = notBefore(e.now(), en.t.Updated)
	e.mark(en, true)
}

// notBefore is t, or floor when the wall clock reads earlier than floor:
// the times a task records stay in order across a step of the clock.
func notBefore(t, floor time.Time) time.Time {
	if t.Before(floor) {
		return floor
	}
	return t
}

func (e *Engine) enqueue(en *entry) {
	if !en.queued {
		en.queued = true
		e.dirty = append(e.dirty, en)
	}
}

// send queues a message (a reply, an assignment) for after the commit.
func (e *Engine) send(topic string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		e.log.Error("message does not encode", "topic", topic, "err", err) // cannot happen
		return
	}
	e.msgs = append(e.msgs, Message{Message: session.Message{Topic: topic, QoS: 1, Payload: b}})
}

// lookup returns the task id, from memory or, finished, from the store.
// A finished task read from the store stays in memory until the next Take.
func (e *Engine) lookup(id string) (*entry, error) {
	if en, ok := e.tasks[id]; ok {
		return en, nil
	}
	t, err := e.opts.Finished(id)
	if err != nil || t == nil {
		return nil, err
	}
	en := &entry{t: t}
	e.tasks[id] = en
	e.enqueue(en) // so Take drops it again
	return en, nil
}

// Batch is what Take hands out: writes to commit in one transaction, then
// messages to publish.
type Batch struct {
	units []Unit
	Msgs  []Message
	seq   uint64 // the engine's count of batches taken, this one included
}

// Empty reports a batch with nothing to write or publish.
func (b *Batch) Empty() bool { return len(b.units) == 0 && len(b.Msgs) == 0 }

// Writes counts the keys the batch sets or deletes.
func (b *Batch) Writes() int {
	n := 0
	for _, u := range b.units {
		n += len(u)
	}
	return n
}

// Take returns the writes and messages made since the last Take, for a
// caller that commits them before it applies anything more: it is
// TakeAhead and, at once, Durable.
func (e *Engine) Take() (Batch, error) {
	b, err := e.TakeAhead()
	e.Durable(b)
	return b, err
}

// TakeAhead returns the writes and messages made since the last
// TakeAhead. The caller commits the writes, then publishes the messages,
// then calls Durable; it may apply more inputs while the commit is under
// way (what they make goes into the next batch, which must be committed
// after this one). The finished tasks this batch writes under f/ stay in
// memory until Durable, so the engine never reads the store for a task
// whose record the store does not hold yet. If the commit fails the
// engine is ahead of the store and must be discarded: the Service stops,
// and a restart reloads from the store.
func (e *Engine) TakeAhead() (Batch, error) {
	e.taken++
	b := Batch{seq: e.taken}
	var errs []error
	statuses := make([]Message, 0, len(e.dirty))
	for _, en := range e.dirty {
		en.queued = false
		if en.write {
			u, err := e.recordUnit(en)
			if err != nil {
				errs = append(errs, err)
			} else {
				b.units = append(b.units, u)
			}
		}
		if en.announce {
			m, err := e.statusMessage(en)
			if err != nil {
				errs = append(errs, err)
			} else {
				statuses = append(statuses, m)
			}
		}
		en.write, en.cpWrite, en.announce, en.moving = false, false, false, false
		if task.Terminal(en.t.State) && !en.stored {
			// Under f/ once b is durable: read from the store after that.
			en.leave = b.seq
			e.leaving = append(e.leaving, en)
		}
	}
	b.units = append(b.units, e.units...)
	if e.qChanged {
		e.qChanged = false
		statuses = append(statuses, e.quarantineMessage())
	}
	b.Msgs = append(statuses, e.msgs...)
	e.dirty, e.units, e.msgs = e.dirty[:0], nil, nil
	return b, errors.Join(errs...)
}

// Durable is told that b, and every batch taken before it, is committed:
// the finished tasks they wrote under f/ leave memory, unless changed
// again since (a later batch lets them leave).
func (e *Engine) Durable(b Batch) {
	keep := e.leaving[:0]
	for _, en := range e.leaving {
		switch {
		case en.leave > b.seq:
			keep = append(keep, en)
		case en.leave != 0 && !en.queued && !en.stored && task.Terminal(en.t.State):
			en.leave = 0
			if e.tasks[en.t.Spec.ID] == en {
				delete(e.tasks, en.t.Spec.ID) // under f/: read from the store when needed
			}
		}
	}
	clear(e.leaving[len(keep):])
	e.leaving = keep
}

func (e *Engine) statusMessage(en *entry) (Message, error) {
	st := en.t.Status()
	st.Epoch = e.opts.Epoch
	b, err := json.Marshal(st)
	if err != nil {
		return Message{}, fmt.Errorf("status of task %s does not encode: %w", en.t.Spec.ID, err)
	}
	m := Message{Message: session.Message{Topic: e.opts.Topics.TaskStatus(en.t.Spec.ID), QoS: 1, Retained: true, Payload: b}}
	if task.Terminal(en.t.State) && en.stored {
		m.Finished = en.t.Spec.ID
	}
	return m, nil
}

// recordUnit is the write of en's record. A finished task stays under a/
// until its final status is announced (Announced moves it to f/), so a
// restart between the commit and the announcement announces it again.
func (e *Engine) recordUnit(en *entry) (Unit, error) {
	id := en.t.Spec.ID
	v, err := encodeTask(en.t)
	if err != nil {
		return nil, fmt.Errorf("task %s does not encode: %w", id, err)
	}
	if !en.stored {
		if task.Terminal(en.t.State) {
			u := Unit{{Key: finishedKey(id), Value: v}}
			if en.moving {
				u = append(u, Write{Key: activeKey(id)}, Write{Key: checkpointKey(id)})
			}
			return u, nil
		}
		en.stored = true
	}
	u := Unit{{Key: activeKey(id), Value: v}}
	if en.cpWrite && en.cp != nil {
		cv, err := frame(formatCheckpoint, en.cp)
		if err != nil {
			return nil, fmt.Errorf("checkpoint of task %s does not encode: %w", id, err)
		}
		u = append(u, Write{Key: checkpointKey(id), Value: cv})
	}
	return u, nil
}

// Announced is told that the final status of the finished task id was
// acknowledged by the broker: the task moves from a/ to f/ in the next
// batch (riding on its commit) and leaves memory.
func (e *Engine) Announced(id string) {
	en, ok := e.tasks[id]
	if !ok || !en.stored || !task.Terminal(en.t.State) {
		return
	}
	en.stored, en.moving, en.write = false, true, true
	e.enqueue(en)
}
