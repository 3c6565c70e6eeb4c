package runner

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-edge/tether/agent/store"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// Store is what the runner needs of the agent's store (agent/store).
type Store interface {
	Journal(ctx context.Context, task string, t store.Transition, checkpoint []byte,
		build func(seq uint64) (topic string, payload []byte, err error)) (store.Record, error)
	Append(ctx context.Context, kind store.Kind, build func(seq uint64) (topic string, payload []byte, err error)) (store.Record, error)
	Tasks() ([]store.TaskState, error)
	Checkpoint(task string) ([]byte, bool, error)
	ForgetTask(task string) error
	Pending(after uint64, limit int) ([]store.Record, error)
	PendingFrom() uint64
	// Epoch is the highest scheduler epoch accepted; RaiseEpoch makes a
	// higher one durable before it returns nil (epoch.go).
	Epoch() uint64
	RaiseEpoch(epoch uint64) error
}

var _ Store = (*store.Store)(nil)

// Runner runs the tasks assigned to one node. Submit is safe for
// concurrent use; Run is called once.
type Runner struct {
	opts   Options
	st     Store
	topic  string // the node's task event topic
	allow  map[string]bool
	log    *slog.Logger
	limits *limiter // of refusals of assignments that do not verify, or of a stale epoch
	// staleEpochs counts the verified assignments refused for an epoch
	// below the highest accepted (epoch.go).
	staleEpochs atomic.Uint64

	inbox    chan []byte   // payloads from Submit, for Run
	finished chan *entry   // workers that ended, for Run
	quit     chan struct{} // closed when Run stops taking finished workers

	// Owned by Run's goroutine.
	tasks   map[string]*entry // every task the journal holds, by id
	queue   []*entry          // accepted, waiting for a slot, oldest first
	running int               // workers started and not yet reaped
	workers sync.WaitGroup    // the workers and the prefetch
	// prefetching is the queued task whose inputs are being fetched ahead
	// (prefetch.go); prefetched reports the end of that fetch to Run.
	prefetching *entry
	prefetched  chan *entry
	// collected is when the blob store was last collected (Run's
	// goroutine; monotonic).
	collected time.Time
}

// inboxLen bounds the assignments waiting for Run: at most 16 ×
// task.MaxMessage (4 MiB) in memory. Beyond it an assignment is dropped
// (it was acknowledged on the wire already); the scheduler sends again
// what the node never answered.
const inboxLen = 16

// maxPayload is the largest task command worth decoding: task.Sign makes
// no envelope larger, and DecodeEnvelope refuses one.
const maxPayload = task.MaxMessage

// New validates opts and prepares a runner; Run starts it.
func New(opts Options) (*Runner, error) {
	opts.ensureDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	topics, err := protocol.NewTopics(opts.Region)
	if err != nil {
		return nil, err
	}
	r := &Runner{opts: opts, st: opts.Store, topic: topics.NodeTasks(opts.Node), allow: map[string]bool{},
		log: opts.Logger, limits: newLimiter(opts.Now), inbox: make(chan []byte, inboxLen),
		finished: make(chan *entry), prefetched: make(chan *entry), quit: make(chan struct{}), tasks: map[string]*entry{}}
	for _, p := range opts.Allow {
		r.allow[p] = true
	}
	return r, nil
}

// Submit hands the runner a task command's payload (uplink.Options.OnTask).
// It copies the payload and returns at once; Run verifies and acts on it.
func (r *Runner) Submit(payload []byte) {
	if len(payload) > maxPayload {
		if r.limits.allow() {
			r.log.Warn("task command refused: too large to be an assignment", "bytes", len(payload), "limit", maxPayload)
		}
		return
	}
	select {
	case r.inbox <- append([]byte(nil), payload...):
	default:
		if r.limits.allow() {
			r.log.Warn("task command dropped: too many waiting; the scheduler sends unanswered assignments again",
				"waiting", inboxLen)
		}
	}
}

// Run resumes the tasks the journal holds, then takes assignments until
// ctx ends. On return every task has stopped: running ones stay running
// in the journal and resume at the next start. It returns an error only
// if the journal cannot be read at start.
func (r *Runner) Run(ctx context.Context) error {
	defer func() {
		close(r.quit)
		r.workers.Wait()
	}()
	if err := r.load(); err != nil {
		return err
	}
	r.forget()
	r.startQueued()
	r.prefetchNext()
	t := time.NewTicker(r.opts.ForgetInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.shutdown()
			return nil
		case p := <-r.inbox:
			r.handle(p)
			r.prefetchNext()
		case e := <-r.finished:
			r.reap(e)
			r.startQueued()
			r.prefetchNext()
		case e := <-r.prefetched:
			r.prefetchEnded(e)
		case <-t.C:
			r.forget()
			r.collectBlobs()
		}
	}
}

// startQueued starts queued tasks while slots are free, oldest first.
func (r *Runner) startQueued() {
	for r.running < r.opts.Slots && len(r.queue) > 0 {
		e := r.queue[0]
		r.queue[0] = nil
		r.queue = r.queue[1:]
		r.start(e)
	}
}

// dequeue removes e from the queue; false if it was not queued.
func (r *Runner) dequeue(e *entry) bool {
	for i, q := range r.queue {
		if q == e {
			r.queue = append(r.queue[:i], r.queue[i+1:]...)
			return true
		}
	}
	return false
}

// reap takes a worker that ended off the running count, once.
func (r *Runner) reap(e *entry) {
	if e.cancel != nil {
		e.cancel(nil)
		e.cancel = nil
		r.running--
	}
}

// stop cancels e's worker with cause and waits for it to end (it journals
// the end itself, unless cause is errShutdown).
func (r *Runner) stop(e *entry, cause error) {
	if e.cancel == nil {
		return
	}
	e.cancel(cause)
	<-e.done
	r.reap(e)
}

// shutdown stops every worker without journaling: the tasks stay running
// in the journal and resume at the next start.
func (r *Runner) shutdown() {
	if r.prefetching != nil {
		r.stopPrefetch(r.prefetching)
	}
	for _, e := range r.tasks {
		if e.cancel != nil {
			e.cancel(errShutdown)
		}
	}
	for _, e := range r.tasks {
		r.stop(e, errShutdown)
	}
}

// Causes of a worker's end that are not the task's doing.
var (
	errShutdown  = errors.New("agent shutting down")
	errCancelled = errors.New("cancelled by the scheduler")
	// errYield ends an attempt the scheduler asked to yield: the worker
	// saves its progress as a checkpoint first.
	errYield   = errors.New("yielded to the scheduler")
	errTimeout = errors.New("timeout")
)
