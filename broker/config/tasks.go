package config

import (
	"path"
	"time"

	"github.com/tether-edge/tether/broker/taskengine"
)

// Tasks configures the scheduler's task store and task lifecycle
// (broker/taskengine; docs/scheduler-store.md).
type Tasks struct {
	// Dir holds the task store (Badger). Every transition is on disk
	// there before it is announced.
	Dir string `yaml:"dir"`
	// SigningKeyFile is the scheduler's ed25519 signing key, PEM "PRIVATE
	// KEY" (PKCS #8). Agents run only assignments signed by a key they
	// pin. Without one, tasks are accepted but stay pending.
	SigningKeyFile string `yaml:"signing_key_file"`
	// NodeLostGrace is how long a node may be offline before its tasks
	// are re-queued elsewhere as new attempts.
	NodeLostGrace time.Duration `yaml:"node_lost_grace"`
	// AckTimeout is how long an assignment may go unacknowledged before
	// it is sent again (three times), then re-queued elsewhere.
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// AssignmentExpiry is how long after issue an agent may still act on
	// an assignment.
	AssignmentExpiry time.Duration `yaml:"assignment_expiry"`
	// RetryBackoff and RetryBackoffMax shape the wait before a failed
	// task's next attempt: RetryBackoff × 2^(failures−1), at most
	// RetryBackoffMax.
	RetryBackoff    time.Duration `yaml:"retry_backoff"`
	RetryBackoffMax time.Duration `yaml:"retry_backoff_max"`
	// StartTimeout: an attempt accepted but not reported running this
	// long after its assignment is ended and its task re-queued
	// elsewhere. ProgressTimeout: likewise a running attempt of a task
	// that promises progress (a checkpointable builtin) that reports
	// none this long (or 10 × its checkpoint interval, if longer). Such
	// ends, spec timeouts and unacknowledged assignments are a node's
	// failures: QuarantineAfter in a row quarantine it for Quarantine.
	StartTimeout    time.Duration `yaml:"start_timeout"`
	ProgressTimeout time.Duration `yaml:"progress_timeout"`
	QuarantineAfter int           `yaml:"quarantine_after"`
	Quarantine      time.Duration `yaml:"quarantine"`
	// MaxPending is how many tasks may wait pending at the scheduler; a
	// submission beyond it is refused as "queue full".
	MaxPending int `yaml:"max_pending"`
	// What a node may claim (docs/tasks.md, "What a node may claim"): its
	// slots at most MaxSlotsPerNode and its cores × SlotsPerCore, the
	// speed its tether.speed label declares at most MaxSpeed; NodeLimits
	// override MaxSlotsPerNode and MaxSpeed for the nodes whose id
	// matches, the first match winning.
	MaxSlotsPerNode int         `yaml:"max_slots_per_node"`
	SlotsPerCore    int         `yaml:"slots_per_core"`
	MaxSpeed        float64     `yaml:"max_speed"`
	NodeLimits      []NodeLimit `yaml:"node_limits"`
}

// NodeLimit is what the operator allows the nodes whose id matches Match
// (a shell pattern: "gpu-*"). Zero fields keep the section's own.
type NodeLimit struct {
	Match    string  `yaml:"match"`
	MaxSlots int     `yaml:"max_slots"`
	MaxSpeed float64 `yaml:"max_speed"`
}

// Limits is the task engine's view of the limits.
func (t *Tasks) Limits() taskengine.Limits {
	l := taskengine.Limits{MaxSlots: t.MaxSlotsPerNode, SlotsPerCore: t.SlotsPerCore, MaxSpeed: t.MaxSpeed}
	for _, n := range t.NodeLimits {
		l.Nodes = append(l.Nodes, taskengine.NodeLimit{Match: n.Match, MaxSlots: n.MaxSlots, MaxSpeed: n.MaxSpeed})
	}
	return l
}

// DefaultTasks is the tasks section used when nothing is set.
func DefaultTasks() Tasks {
	return Tasks{
		Dir:              "/var/lib/tether/tasks",
		NodeLostGrace:    30 * time.Second,
		AckTimeout:       30 * time.Second,
		AssignmentExpiry: 10 * time.Minute,
		RetryBackoff:     5 * time.Second,
		RetryBackoffMax:  5 * time.Minute,
		StartTimeout:     taskengine.DefaultStartTimeout,
		ProgressTimeout:  taskengine.DefaultProgressTimeout,
		QuarantineAfter:  taskengine.DefaultQuarantineAfter,
		Quarantine:       taskengine.DefaultQuarantine,
		MaxPending:       taskengine.DefaultMaxPending,
		MaxSlotsPerNode:  taskengine.DefaultMaxSlots,
		SlotsPerCore:     taskengine.DefaultSlotsPerCore,
		MaxSpeed:         taskengine.DefaultMaxSpeed,
	}
}

func (t *Tasks) validate(add func(format string, args ...any)) {
	if t.Dir == "" {
		add("tasks.dir is empty: the scheduler keeps its task store there (default /var/lib/tether/tasks)")
	}
	if t.NodeLostGrace < time.Second {
		add("tasks.node_lost_grace %v is below 1s: a node's reconnect would move its tasks", t.NodeLostGrace)
	}
	if t.AckTimeout < time.Second {
		add("tasks.ack_timeout %v is below 1s", t.AckTimeout)
	}
	if t.AssignmentExpiry < 10*time.Second || t.AssignmentExpiry < t.AckTimeout {
		add("tasks.assignment_expiry %v: at least 10s and at least tasks.ack_timeout (%v), or agents refuse assignments as expired before they are re-sent",
			t.AssignmentExpiry, t.AckTimeout)
	}
	if t.RetryBackoff <= 0 {
		add("tasks.retry_backoff %v: must be positive", t.RetryBackoff)
	}
	if t.StartTimeout < time.Second || t.ProgressTimeout < time.Second {
		add("tasks.start_timeout %v, tasks.progress_timeout %v: at least 1s each (default 3m: three agent heartbeats)",
			t.StartTimeout, t.ProgressTimeout)
	}
	if t.QuarantineAfter < 1 {
		add("tasks.quarantine_after %d: at least 1 failure in a row", t.QuarantineAfter)
	}
	if t.Quarantine < time.Second {
		add("tasks.quarantine %v is below 1s", t.Quarantine)
	}
	if t.MaxPending < 1 {
		add("tasks.max_pending %d: at least 1 task must be able to wait", t.MaxPending)
	}
	if t.MaxSlotsPerNode < 1 || t.MaxSlotsPerNode > 1024 {
		add("tasks.max_slots_per_node %d: want 1 to 1024", t.MaxSlotsPerNode)
	}
	if t.SlotsPerCore < 1 || t.SlotsPerCore > 1024 {
		add("tasks.slots_per_core %d: want 1 to 1024", t.SlotsPerCore)
	}
	if !(t.MaxSpeed > 0 && t.MaxSpeed <= 1000) {
		add("tasks.max_speed %v: want above 0 and at most 1000 (reference cores per slot)", t.MaxSpeed)
	}
	for i, n := range t.NodeLimits {
		if _, err := path.Match(n.Match, ""); err != nil || n.Match == "" {
			add("tasks.node_limits[%d].match %q: want a node id or a pattern such as gpu-*", i, n.Match)
		}
		if n.MaxSlots < 0 || n.MaxSlots > 1024 {
			add("tasks.node_limits[%d].max_slots %d: want 1 to 1024 (0: tasks.max_slots_per_node)", i, n.MaxSlots)
		}
		if n.MaxSpeed < 0 || n.MaxSpeed > 1000 || n.MaxSpeed != n.MaxSpeed {
			add("tasks.node_limits[%d].max_speed %v: want above 0 and at most 1000 (0: tasks.max_speed)", i, n.MaxSpeed)
		}
	}
	if t.RetryBackoffMax < t.RetryBackoff {
		add("tasks.retry_backoff_max %v is below tasks.retry_backoff %v", t.RetryBackoffMax, t.RetryBackoff)
	}
}
