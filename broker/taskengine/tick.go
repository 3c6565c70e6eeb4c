package taskengine

import (
	"cmp"
	"container/heap"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/tether-edge/tether/pkg/task"
)

// Tick applies the passing of time: nodes lost past the grace,
// assignments not acknowledged, attempts past their timeout, backoffs
// that ended; then places pending tasks if anything changed that may let
// them (Settle). The Service calls it about twice a second. It costs
// O(unfinished tasks) and, when placement is due, O(pending × nodes).
func (e *Engine) Tick() {
	now := e.clock()
	e.yieldsDue(now)
	e.lostNodes(now)
	e.endQuarantines(now)
	running := e.runningByNode()
	for _, en := range e.sortedTasks() {
		t := en.t
		switch t.State {
		case task.StateAssigned:
			if !t.Acked && now.sub(en.sentAt) >= e.opts.AckTimeout {
				e.unacked(en)
			} else {
				e.checkLife(en, now, running)
			}
		case task.StateRunning:
			if timeout := t.Spec.Timeout.D(); timeout > 0 && now.sub(en.started) >= timeout {
				e.timedOut(en, timeout)
			} else {
				e.checkLife(en, now, running)
			}
		case task.StatePending:
			if nb := en.notBefore; !nb.isZero() && !now.before(nb) && e.lastPass.before(nb) {
				e.placeDue = true // a backoff ended since the last pass
			}
			if t.Spec.Deadline.D() > 0 && e.preempter != nil {
				// Whether preempting makes room for it changes as the
				// running attempts progress: look again at every tick.
				e.placeDue = true
			}
		}
	}
	e.Settle()
}

// Settle places pending tasks if anything changed since the last pass
// that may let one be placed: a node came or changed, a task left a node,
// a task was re-queued, a backoff ended. The Service calls it after every
// round of inputs.
func (e *Engine) Settle() {
	if len(e.handoffs) > 0 {
		e.handOff(e.clock())
	}
	if e.placeDue {
		e.placePending(e.clock())
	}
}

// unacked handles an assignment not acknowledged within AckTimeout: it is
// sent again, up to AckResends times, then the attempt is abandoned and
// the task re-queued on another node (using no retry).
func (e *Engine) unacked(en *entry) {
	t := en.t
	if t.Sends <= e.opts.AckResends {
		e.log.Warn("assignment not acknowledged: sending it again", "task", t.Spec.ID, "node", t.Node,
			"attempt", t.Attempt, "sends", t.Sends)
		e.sendRun(en, true)
		e.mark(en, true) // Sends and SentAt
		return
	}
	e.log.Warn("assignment never acknowledged: re-queued elsewhere", "task", t.Spec.ID, "node", t.Node,
		"attempt", t.Attempt, "sends", t.Sends)
	node := t.Node
	e.endAttempt(en, "not acknowledged", true)
	e.strike(node)
	t.Avoid = node
	e.requeue(en)
}

// timedOut fails an attempt that ran past the spec's timeout: its node is
// sent the cancel, and the task retried or failed.
func (e *Engine) timedOut(en *entry, timeout time.Duration) {
	t := en.t
	e.log.Warn("task attempt timed out", "task", t.Spec.ID, "node", t.Node, "attempt", t.Attempt, "timeout", timeout)
	reason := "timed out after " + timeout.String()
	e.strike(t.Node)
	e.endAttempt(en, reason, true)
	e.retryOrFail(en, reason)
}

// A placement pass costs O(nodes) per task tried (about 30 µs at 1000
// nodes), and passes follow every task that leaves a node: a backlog of
// tasks that fit nowhere must not cost O(backlog × nodes) each time. So a
// pass tries each shape of request (tier, labels, cores, memory) once:
// when no node took a task, later tasks of the same shape are skipped.
// After maxMisses shapes no node took, the rest wait for the next pass.
// (A Placer whose answer depends on more than the shape still sees the
// first task of each shape.)
const maxMisses = 64

// maxVictimSearches bounds the searches for an attempt to preempt per pass
// (and per submission): each costs O(attempts).
const maxVictimSearches = 8

// placePending tries the pending tasks whose backoff is over, by priority
// (higher first), then submission time, then id — or in the Queue's
// order. It costs O(pending) to gather them and O(log pending) per task
// tried: a pass after one task left a node tries about one, so a backlog
// of thousands is not sorted again at every pass.
func (e *Engine) placePending(now instant) {
	e.placeDue = false
	e.lastPass = now
	e.victimSearches = maxVictimSearches
	free := e.room()
	preemptOnly := false
	if free == 0 && e.opts.Key != nil {
		if e.preempter == nil || (e.queue != nil && !e.preemptWaiting) {
			return // no node online, or no room on any: the tasks wait here
		}
		// No node has room: only a task the Preempter preempts for (a
		// deadline task; any, for a WaitPreempter) may make room
		// (preemptFor); the others wait.
		preemptOnly = true
	}
	h := &pendingHeap{less: e.before}
	for _, en := range e.tasks {
		if en.t.State == task.StatePending && !now.before(en.notBefore) {
			if e.queue != nil && !en.keyed {
				en.key, en.keyed = e.queue.Key(e.request(en, e.resumePoint(en))), true
			}
			h.es = append(h.es, en)
		}
	}
	heap.Init(h)
	missed := map[string]bool{}
	defer func() { e.ahead = 0 }()
	for h.Len() > 0 {
		en := heap.Pop(h).(*entry)
		if e.awaitsYield(en.t.Spec.ID) {
			continue // its victim's slot is coming
		}
		if preemptOnly && ((!e.preemptWaiting && en.t.Spec.Deadline.D() <= 0) || e.victimSearches == 0) {
			continue
		}
		sh := shape(&en.t.Spec)
		if missed[sh] {
			e.ahead += workFrom(en.t, e.resumePoint(en))
			continue
		}
		if e.place(en, now) {
			if free--; free == 0 {
				return
			}
			continue
		}
		e.ahead += workFrom(en.t, e.resumePoint(en))
		if e.opts.Key == nil {
			return
		}
		if missed[sh] = true; len(missed) == maxMisses {
			return
		}
	}
}

// room counts the room online nodes have for the scheduler's tasks:
// their slots and queues (NodeState.Queue) less the tasks assigned there.
func (e *Engine) room() int {
	free := 0
	for _, c := range e.candidates() {
		free += max(c.Slots+c.Queue-c.Tasks, 0)
	}
	return free
}

// before orders pending tasks: by the Queue's key when there is one,
// then by priority (higher first), submission time and id.
func (e *Engine) before(a, b *entry) bool {
	if e.queue != nil && a.key != b.key {
		return a.key < b.key
	}
	if c := cmp.Compare(b.t.Spec.Priority, a.t.Spec.Priority); c != 0 {
		return c < 0
	}
	if c := a.t.Submitted.Compare(b.t.Submitted); c != 0 {
		return c < 0
	}
	return a.t.Spec.ID < b.t.Spec.ID
}

// pendingHeap is a heap of pending tasks, first by less at the top.
type pendingHeap struct {
	es   []*entry
	less func(a, b *entry) bool
}

func (h *pendingHeap) Len() int           { return len(h.es) }
func (h *pendingHeap) Less(i, j int) bool { return h.less(h.es[i], h.es[j]) }
func (h *pendingHeap) Swap(i, j int)      { h.es[i], h.es[j] = h.es[j], h.es[i] }
func (h *pendingHeap) Push(x any)         { h.es = append(h.es, x.(*entry)) }
func (h *pendingHeap) Pop() any {
	en := h.es[len(h.es)-1]
	h.es = h.es[:len(h.es)-1]
	return en
}

// shape is what decides where a task fits.
func shape(s *task.Spec) string {
	c := s.Constraints
	k := fmt.Sprintf("%s|%d|%d", c.Tier, s.Resources.CPUMillis, s.Resources.MemMB)
	if len(c.Labels) > 0 {
		keys := slices.Sorted(maps.Keys(c.Labels))
		for _, l := range keys {
			k += "|" + l + "=" + c.Labels[l]
		}
	}
	return k
}
