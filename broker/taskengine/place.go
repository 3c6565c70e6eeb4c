package taskengine

import (
	"iter"
	"time"

	"github.com/tether-edge/tether/pkg/task"
)

// Placer chooses the node for a task among the online nodes with facts,
// or nil when none will do (the task stays pending and is tried again
// when the fleet or the load changes). It is the seam for the placement
// policies of broker/place, which broker/place/live runs behind it (that
// package imports this one: the engine has no placer of its own, and
// Options.Placer is required). Place is called from the engine's goroutine
// and must not keep nodes; they come sorted by id. A node it returns is
// assigned the task at once.
type Placer interface {
	Place(r *Request, nodes []*Candidate) *Candidate
}

// Observer is an optional capability of a Placer, found by type
// assertion: a placer that keeps its own model of the fleet is told what
// the engine learns as it learns it — what the fleet says of each node,
// and every attempt charged to a node from its assignment to its end — so
// that its record of each node's work is the engine's own, and it can
// learn node speeds from completed attempts. Calls come from the engine's
// goroutine, in the order of the engine's transitions.
type Observer interface {
	// NodeUpdated is what the fleet now says of node n: after its birth,
	// will or goodbye, when its heartbeat went overdue, and at every sync
	// of the fleet's whole view (about once a second, with its latest
	// metrics).
	NodeUpdated(n NodeState)
	// AttemptAssigned: an attempt now loads its node. It was placed just
	// now (right after Place returned the node), or was found assigned or
	// running when the engine loaded its store (Started is then set if it
	// was running), before any NodeUpdated.
	AttemptAssigned(a Attempt)
	// AttemptRunning: the node reported the attempt running.
	AttemptRunning(task string, attempt uint32)
	// AttemptEnded: the attempt no longer loads its node — it succeeded,
	// failed, was refused, cancelled, timed out, never acknowledged, or its
	// node was lost. res is the node's result when it succeeded, else nil.
	AttemptEnded(task string, attempt uint32, res *task.Result)
}

// Attempt is an attempt an Observer is told of.
type Attempt struct {
	Task    string
	Attempt uint32
	Node    string
	Request *Request  // as placed: Work is the work left when the attempt began
	Started time.Time // when it was reported running; zero: not yet
}

// PolicyChecker is an optional capability of a Placer: it knows the
// placement policies a task's spec may name. A submission naming a policy
// CheckPolicy refuses is refused with its error; without a PolicyChecker
// spec.policy is not looked at.
type PolicyChecker interface {
	CheckPolicy(name string) error
}

// Queue is an optional capability of a Placer that keeps a central queue
// at the scheduler: a pass offers the pending tasks to Place in the order
// of their Key (smaller first; equal keys by priority, submission, id), and
// a task Place declines — no slot free for it — waits pending for a later
// pass; one follows whenever a task leaves a node. A submission, too,
// waits for the pass that ends its round rather than being placed at once,
// so that it takes no slot ahead of the queue.
type Queue interface {
	Key(r *Request) float64
}

// Request is a task to place.
type Request struct {
	Task string
	Spec *task.Spec // read-only
	// Work is the estimated work left (Spec.Work, 1 when unknown, less the
	// checkpoint it resumes from).
	Work float64
	// Avoid is a node an earlier attempt was taken from (no
	// acknowledgement, refused): any other node that fits is preferred.
	Avoid string
	// Submitted is when the task was submitted: its deadline runs from
	// then (Spec.Deadline).
	Submitted time.Time
	// Ahead is, for a Queue, the work of the pending tasks before this one
	// in the queue's order that the pass has not placed: the queue a task
	// waiting for a busy node waits behind.
	Ahead float64

	labels [][2]string // Spec.Constraints.Labels as pairs, made by Fits once
}

// labelPairs returns the label constraints as a slice: ranging over a
// map for each of a thousand nodes costs more than the rest of Fits.
func (r *Request) labelPairs() [][2]string {
	if r.labels == nil && len(r.Spec.Constraints.Labels) > 0 {
		r.labels = make([][2]string, 0, len(r.Spec.Constraints.Labels))
		for k, v := range r.Spec.Constraints.Labels {
			r.labels = append(r.labels, [2]string{k, v})
		}
	}
	return r.labels
}

// Fits reports whether node n can take r: it has a free slot (NodeState.Slots,
// when set, above the scheduler's tasks there), its tier and labels match
// the task's constraints, and its cores (×1000 millicores) and memory less
// what the scheduler's unfinished tasks there requested cover r's request.
func Fits(r *Request, n *Candidate) bool {
	if n.Slots > 0 && n.Tasks >= n.Slots {
		return false
	}
	return FitsWhenFree(r, n)
}

// FitsQueued is Fits with the node's queue as room too: n has fewer of
// the scheduler's tasks than its slots and queue (NodeState.Queue), so r
// waits there at most behind the queue's other tasks.
func FitsQueued(r *Request, n *Candidate) bool {
	if n.Slots > 0 && n.Tasks >= n.Slots+n.Queue {
		return false
	}
	return FitsWhenFree(r, n)
}

// FitsWhenFree is Fits but for the free slot: whether n could take r once
// one of its slots frees.
func FitsWhenFree(r *Request, n *Candidate) bool {
	s := r.Spec
	if tier := s.Constraints.Tier; tier != "" && tier != task.TierAny && tier != n.Tier {
		return false
	}
	if c := s.Resources.CPUMillis; c > 0 && c > int64(n.Cores)*1000-n.CPUMillis {
		return false
	}
	if m := s.Resources.MemMB; m > 0 && m<<20 > n.MemTotal-n.MemBytes {
		return false
	}
	for _, kv := range r.labelPairs() {
		if got, ok := n.Labels[kv[0]]; !ok || got != kv[1] {
			return false
		}
	}
	return true
}

// Estimator is a Placer that estimates when the task it placed last will be
// done: the engine records it in the task's status and marks a deadline
// task at risk when it is after the deadline.
type Estimator interface {
	// Estimate returns the completion the last Place that chose a node
	// expected, if its policy made one.
	Estimate() (done time.Time, ok bool)
}

// Preempter is a Placer that can name a running attempt to take back so
// that a deadline task no placement meets gets its node in time: the
// engine ends that attempt (its node is sent a cancel; the task is
// pending again and resumes from its last checkpoint) and places again.
type Preempter interface {
	// Victim returns the task and attempt to preempt for r, if one would
	// let r meet its deadline (or, for a WaitPreempter, start). nodes are
	// the engine's candidates.
	Victim(r *Request, nodes []*Candidate) (task string, attempt uint32, ok bool)
}

// WaitPreempter is a Preempter whose policy preempts for any task that
// would otherwise wait, not only for a deadline (shortest remaining time
// first): when PreemptsWaiting, the engine asks its Victim for every task
// Place finds no node for, also when every slot is taken.
type WaitPreempter interface {
	Preempter
	PreemptsWaiting() bool
}

// Admitter is an optional capability of a Placer with admission control
// (earliest deadline first): a submission Admit refuses is refused with
// its error, and nothing is stored. r is the new task, submitted now;
// pending yields the tasks waiting at the scheduler (state pending), each
// with the work it has left, only as far as Admit reads it.
type Admitter interface {
	Admit(r *Request, pending iter.Seq[*Request]) error
}
