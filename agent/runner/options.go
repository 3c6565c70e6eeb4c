package runner

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"time"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// Options configure a Runner. Node, Region, Store and Workdir are
// required; the rest work when left zero.
type Options struct {
	Node   string
	Region string
	// Store is the agent's store: journal, checkpoints and outbox.
	Store Store
	// Blobs keeps and fetches task data (inputs and outputs); nil: a
	// task that names any fails.
	Blobs Blobs
	// Keys are the pinned scheduler keys; an assignment signed by any
	// other is refused. None: every assignment is refused.
	Keys []ed25519.PublicKey
	// Slots is how many tasks run at once; 0: runtime.NumCPU().
	Slots int
	// Allow lists the exact absolute paths exec tasks may run.
	Allow []string
	// Workdir holds the exec tasks' attempt directories. The runner owns
	// it: at start it removes attempt directories of tasks it no longer
	// runs.
	Workdir string
	// CheckpointLimit is the largest checkpoint sent with its event
	// (0: 16 KiB; negative: none is sent). OutputTail is how many trailing
	// bytes of stdout and of stderr a result keeps (0: 4 KiB; negative:
	// none), at most task.MaxTail.
	CheckpointLimit int
	OutputTail      int
	// KillGrace is the time between SIGTERM and SIGKILL for an exec
	// task's process group (0: 5 s; negative: SIGKILL at once).
	KillGrace time.Duration
	// Header stamps a task event with its seq and the outbox's
	// PendingFrom (the uplink's Header). Nil: a header with the node, seq,
	// from and time, and instance "local".
	Header func(seq, from uint64) protocol.Header
	// Notify is called after every event is committed to the outbox (the
	// uplink's Notify). Nil: nothing.
	Notify func()
	Logger *slog.Logger
	// Now is the wall clock assignments are checked against; default
	// time.Now.
	Now func() time.Time

	// PollInterval is how often an exec task's checkpoint directory is
	// looked at (default 1 s). Retention is how long a finished task whose
	// last event the broker never acknowledged stays in the journal
	// (default 24 h); ForgetInterval is how often finished tasks are
	// looked at for forgetting (default 30 s).
	PollInterval   time.Duration
	Retention      time.Duration
	ForgetInterval time.Duration
	// ProgressInterval is how often a running attempt's progress is
	// reported between its checkpoints (a progress event): a builtin's
	// units done, an exec task's progress file (default 30 s; negative:
	// never).
	ProgressInterval time.Duration

	// CollectBlobs, if set, collects the node's blob store: it deletes what
	// keep does not claim (and what the caller's own rules keep, such as a
	// blob's age). keep claims the inputs and outputs of every task the
	// journal holds. It is called at most every CollectEvery (default 1 h)
	// on Run's goroutine, beside the forgetting of finished tasks.
	CollectBlobs func(keep func(blob.ID) bool)
	CollectEvery time.Duration

	// afterFunc starts an attempt's timeout: f runs once d has passed,
	// unless stop was called first (default time.AfterFunc). Tests end an
	// attempt by its timeout when they choose, whatever the host's load.
	afterFunc func(d time.Duration, f func()) (stop func() bool)
}

const (
	defaultCheckpointLimit = 16 << 10
	defaultOutputTail      = 4 << 10
	defaultKillGrace       = 5 * time.Second
	defaultPollInterval    = time.Second
	defaultRetention       = 24 * time.Hour
	defaultForgetInterval  = 30 * time.Second
	defaultCollectEvery    = time.Hour
	// DefaultProgressInterval is Options.ProgressInterval's default.
	DefaultProgressInterval = 30 * time.Second
	// maxSlots bounds the slots: each running task is a goroutine and,
	// for exec, a process with two pipes.
	maxSlots = 256
)

func (o *Options) ensureDefaults() {
	if o.Slots == 0 {
		o.Slots = max(1, runtime.NumCPU())
	}
	switch {
	case o.CheckpointLimit == 0:
		o.CheckpointLimit = defaultCheckpointLimit
	case o.CheckpointLimit < 0:
		o.CheckpointLimit = 0
	}
	switch {
	case o.OutputTail == 0:
		o.OutputTail = defaultOutputTail
	case o.OutputTail < 0:
		o.OutputTail = 0
	}
	o.OutputTail = min(o.OutputTail, task.MaxTail)
	o.CheckpointLimit = min(o.CheckpointLimit, task.MaxCheckpoint)
	switch {
	case o.KillGrace == 0:
		o.KillGrace = defaultKillGrace
	case o.KillGrace < 0:
		o.KillGrace = 0
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Notify == nil {
		o.Notify = func() {}
	}
	if o.Header == nil {
		now := o.Now
		node := o.Node
		o.Header = func(seq, from uint64) protocol.Header {
			return protocol.Header{V: protocol.Version, Node: node, Instance: "local", Seq: seq, From: from,
				TS: now().Truncate(time.Millisecond)}
		}
	}
	if o.afterFunc == nil {
		o.afterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if o.PollInterval <= 0 {
		o.PollInterval = defaultPollInterval
	}
	if o.Retention <= 0 {
		o.Retention = defaultRetention
	}
	if o.CollectEvery <= 0 {
		o.CollectEvery = defaultCollectEvery
	}
	if o.ForgetInterval <= 0 {
		o.ForgetInterval = defaultForgetInterval
	}
	switch {
	case o.ProgressInterval == 0:
		o.ProgressInterval = DefaultProgressInterval
	case o.ProgressInterval < 0:
		o.ProgressInterval = 0
	}
}

// validate reports options a runner cannot work with, after defaults.
func (o *Options) validate() error {
	var errs []error
	if err := protocol.ValidateID("node id", o.Node); err != nil {
		errs = append(errs, err)
	}
	if o.Store == nil {
		errs = append(errs, errors.New("no store"))
	}
	if o.Slots < 1 || o.Slots > maxSlots {
		errs = append(errs, fmt.Errorf("slots %d: use 1 to %d", o.Slots, maxSlots))
	}
	if !filepath.IsAbs(o.Workdir) {
		errs = append(errs, fmt.Errorf("workdir %q: want an absolute path", o.Workdir))
	}
	for _, p := range o.Allow {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p {
			errs = append(errs, fmt.Errorf("allowed command %q: want a clean absolute path", p))
		}
	}
	for i, k := range o.Keys {
		if len(k) != ed25519.PublicKeySize {
			errs = append(errs, fmt.Errorf("scheduler key %d: %d bytes, want %d", i+1, len(k), ed25519.PublicKeySize))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("runner: %w", errors.Join(errs...))
	}
	return nil
}
