package config

import "time"

// Tasks configures the scheduler's task store and task lifecycle
// (broker/tasks; docs/scheduler-store.md).
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
	if t.RetryBackoffMax < t.RetryBackoff {
		add("tasks.retry_backoff_max %v is below tasks.retry_backoff %v", t.RetryBackoffMax, t.RetryBackoff)
	}
}
