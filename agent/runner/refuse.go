package runner

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// UnverifiedTask is the task named by the refusal of an assignment whose
// signature does not check: its body says which task it is about, but
// nothing in it can be trusted, so the event names this placeholder, with
// attempt 1 (an event must name an attempt to be valid, and so to be
// counted in the node's sequence), and its Error says why, with the key id
// the envelope claimed and the SHA-256 of the body (the scheduler knows the
// bodies it signed). The scheduler drops it as an event of an unknown task.
const UnverifiedTask = "_unverified"

// refuse reports a refusal of a verified assignment (or of one whose
// signature checks but that is not for this node or not valid now): the
// task and attempt come from the signed body.
func (r *Runner) refuse(taskID string, attempt uint32, reason string) {
	r.log.Warn("task assignment refused", "task", taskID, "attempt", attempt, "reason", reason)
	r.send(task.Event{Task: taskID, Attempt: attempt, State: task.EventRefused, Error: reason})
}

// refuseUnverified reports an assignment that is not one, or whose
// signature does not check. They are rate-limited: anyone who can publish
// on the node's command topic can send them.
func (r *Runner) refuseUnverified(payload []byte, env *task.Envelope, reason string) {
	if !r.limits.allow() {
		return
	}
	key := ""
	var body []byte = payload
	if env != nil {
		key, body = env.Key, env.Body
	}
	sum := sha256.Sum256(body)
	reason = fmt.Sprintf("%s (envelope key %q, body sha256 %s)", reason, clip(key, 32), hex.EncodeToString(sum[:8]))
	r.log.Warn("task assignment refused: it does not verify; check tasks.scheduler_keys against the scheduler's key",
		"reason", reason, "suppressed_since_last", r.limits.suppressed())
	r.send(task.Event{Task: UnverifiedTask, Attempt: 1, State: task.EventRefused, Error: reason})
}

// signedBody returns the task and attempt of env's body when its signature
// checks against a pinned key, although Verify refused the assignment (not
// for this node, outside its window, or not understood): the scheduler can
// be told which attempt was refused. The body is read leniently here, as
// it is signed.
func (r *Runner) signedBody(env task.Envelope) (string, uint32, bool) {
	for _, k := range r.opts.Keys {
		if task.KeyID(k) != env.Key {
			continue
		}
		msg := append([]byte(task.SignContext), env.Body...)
		if len(env.Sig) != ed25519.SignatureSize || !ed25519.Verify(k, msg, env.Sig) {
			return "", 0, false
		}
		var a struct {
			Task    string `json:"task"`
			Attempt uint32 `json:"attempt"`
		}
		if json.Unmarshal(env.Body, &a) != nil || protocol.ValidateID("task", a.Task) != nil || a.Attempt == 0 {
			return "", 0, false
		}
		return a.Task, a.Attempt, true
	}
	return "", 0, false
}

// limiter is a token bucket: a burst of limitBurst, then one every
// limitEvery. It bounds the log lines and outbox records a flood of bad
// task commands can cause.
type limiter struct {
	now func() time.Time

	mu      sync.Mutex // guards the fields below
	tokens  float64
	last    time.Time
	dropped int
}

const (
	limitBurst = 10
	limitEvery = 6 * time.Second
)

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, tokens: limitBurst}
}

func (l *limiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if d := now.Sub(l.last); !l.last.IsZero() && d > 0 { // a clock stepped back refills nothing
		l.tokens = min(limitBurst, l.tokens+float64(d)/float64(limitEvery))
	}
	l.last = now
	if l.tokens < 1 {
		l.dropped++
		return false
	}
	l.tokens--
	return true
}

// suppressed returns how many were refused since the last call.
func (l *limiter) suppressed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.dropped
	l.dropped = 0
	return n
}
