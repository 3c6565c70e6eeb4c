package taskengine

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
)

// Liveness of attempts, and quarantine. A node is trusted to report the
// attempts it runs; one that accepts and never works would hold its tasks
// until their timeout. So an attempt must show life within bounds:
//
//   - accepted, it must be reported running within StartTimeout of its
//     assignment (the engine assigns no more than the node's slots, so an
//     honest agent starts what it accepts at once) — or, with a node
//     queue (Options.NodeQueue), of the last tick at which the node's
//     slots were all taken by attempts it reports running: an attempt
//     queued behind them waits for one to end, however long they run;
//   - running a task that promises progress — a checkpointable builtin,
//     which checkpoints every checkpoint_every units — it must report
//     more progress within max(ProgressTimeout, stallFactor × the interval
//     between its checkpoints on a reference core) of its last report;
//   - running any other task on a node whose agent reports progress
//     every ProgressEvery (its facts), it must send a progress (or
//     checkpoint) event within max(ProgressTimeout, heartbeatFactor ×
//     ProgressEvery) of the last: an agent whose task runner is stuck, or
//     that accepts and never works, is found out while its connection
//     stays up. A node whose facts promise no progress reports (an older
//     agent) is bounded by the spec's timeout only.
//
// An attempt that does not is ended, fenced, and its task re-queued
// elsewhere without using a retry (the node failed, not the task). Such
// an end, a spec timeout and an assignment never acknowledged are the
// node's failures; QuarantineAfter of them in a row (no success between)
// quarantine the node: no new task is placed there for Quarantine, or
// until an operator releases it.

// Defaults of the liveness and quarantine options. StartTimeout and
// ProgressTimeout are three heartbeats of an agent with the default
// heartbeat (60 s): a node's silence for as long makes it lost anyway.
const (
	DefaultStartTimeout    = 3 * time.Minute
	DefaultProgressTimeout = 3 * time.Minute
	DefaultQuarantineAfter = 3
	DefaultQuarantine      = 10 * time.Minute
	// stallFactor allows a node this many times slower than a reference
	// core between two checkpoints before its attempt is stalled.
	stallFactor = 10
	// heartbeatFactor is how many progress intervals an attempt may miss
	// in a row: two lost to a slow outbox, the third ends it.
	heartbeatFactor = 3
)

// mustAdvance reports a task whose attempts must show more progress to
// show life: a checkpointable builtin.
func mustAdvance(s *task.Spec) bool {
	return s.Kind == task.KindBuiltin && s.Builtin != nil && s.Checkpointable && s.Builtin.CheckpointEvery > 0
}

// progressBound is how long a running attempt of en may go without life
// (see above); 0: it promises none (an exec task, or a builtin that is
// not checkpointable, on a node that reports progress only at
// checkpoints).
func (e *Engine) progressBound(en *entry) time.Duration {
	s := &en.t.Spec
	b := s.Builtin
	if !mustAdvance(s) {
		if n := e.nodes[en.t.Node]; n != nil && n.ProgressEvery > 0 {
			return max(e.opts.ProgressTimeout, heartbeatFactor*n.ProgressEvery)
		}
		return 0
	}
	every := time.Duration(min(b.CheckpointEvery, 1<<30)) * time.Duration(max(b.UnitMS, 1)) * time.Millisecond
	if every <= 0 || every > 24*time.Hour {
		every = 24 * time.Hour // an overflow, or a bound past any sane one
	}
	return max(e.opts.ProgressTimeout, stallFactor*every)
}

// checkLife ends the live attempt of en if it shows no life within its
// bounds (see above). It reports whether it did.
func (e *Engine) checkLife(en *entry, now instant, running map[string]int) bool {
	t := en.t
	switch {
	case t.State == task.StateAssigned && t.Acked:
		if n := e.nodes[t.Node]; n != nil && n.Slots > 0 && running[t.Node] >= n.Slots {
			en.alive = now // queued behind running attempts: its start is not due yet
			return false
		}
		if now.sub(en.alive) < e.opts.StartTimeout {
			return false
		}
		e.nodeFailed(en, "accepted but not started within "+e.opts.StartTimeout.String())
		return true
	case t.State == task.StateRunning:
		b := e.progressBound(en)
		if b == 0 || now.sub(en.alive) < b {
			return false
		}
		e.nodeFailed(en, "no progress reported within "+b.String())
		return true
	}
	return false
}

// runningByNode counts, with a node queue, each node's attempts reported
// running; nil without one (no attempt then waits behind a full node's
// slots). O(unfinished tasks).
func (e *Engine) runningByNode() map[string]int {
	if e.opts.NodeQueue <= 0 {
		return nil
	}
	running := map[string]int{}
	for _, en := range e.tasks {
		if en.t.State == task.StateRunning {
			running[en.t.Node]++
		}
	}
	return running
}

// nodeFailed ends en's attempt for reason, the node's failure, and
// re-queues the task elsewhere without using a retry.
func (e *Engine) nodeFailed(en *entry, reason string) {
	t := en.t
	node := t.Node
	e.log.Warn("attempt shows no life: re-queued elsewhere", "task", t.Spec.ID, "node", node, "attempt", t.Attempt,
		"reason", reason)
	e.endAttempt(en, reason, true)
	e.strike(node)
	t.Avoid = node
	e.requeue(en)
}

// strike counts a failure of node; the QuarantineAfter-th in a row
// quarantines it.
func (e *Engine) strike(node string) {
	n := e.node(node)
	n.strikes++
	if n.strikes < e.opts.QuarantineAfter || n.quarantined() {
		return
	}
	n.untilAt, n.until = e.clock().add(e.opts.Quarantine), e.now().Add(e.opts.Quarantine)
	e.cands, e.qChanged = nil, true
	e.writeQuarantine(&Quarantine{Node: node, Until: n.until, Failures: n.strikes})
	e.log.Warn("node quarantined: no new task is placed there", "node", node, "failures_in_a_row", n.strikes,
		"until", n.until)
}

// succeeded clears node's failures in a row.
func (e *Engine) succeeded(node string) {
	if n, ok := e.nodes[node]; ok {
		n.strikes = 0
	}
}

// quarantined reports whether the node is in quarantine now.
func (n *engineNode) quarantined() bool { return !n.untilAt.isZero() }

// endQuarantines lets nodes whose quarantine is over take tasks again.
func (e *Engine) endQuarantines(now instant) {
	for id, n := range e.nodes {
		if n.quarantined() && !now.before(n.untilAt) {
			e.unquarantine(id, "quarantine over")
		}
	}
}

// Release ends node's quarantine now (an operator's decision); it reports
// whether the node was quarantined.
func (e *Engine) Release(node string) bool {
	n, ok := e.nodes[node]
	if !ok || !n.quarantined() {
		return false
	}
	e.unquarantine(node, "released by an operator")
	return true
}

func (e *Engine) unquarantine(node, why string) {
	n := e.nodes[node]
	n.untilAt, n.until, n.strikes = 0, time.Time{}, 0
	e.cands, e.placeDue, e.qChanged = nil, true, true
	e.units = append(e.units, Unit{{Key: quarantineKey(node)}})
	e.log.Info("node out of quarantine", "node", node, "why", why)
}

// Quarantined returns the nodes in quarantine now, and until when.
func (e *Engine) Quarantined() map[string]time.Time {
	out := map[string]time.Time{}
	for id, n := range e.nodes {
		if n.quarantined() {
			out[id] = n.until
		}
	}
	return out
}

// quarantineMessage is the retained list of the nodes in quarantine, by
// id, on the region's tasks/quarantine topic.
func (e *Engine) quarantineMessage() Message {
	q := e.Quarantined()
	l := task.QuarantineList{V: task.Version, Nodes: []task.Quarantined{}}
	for _, id := range slices.Sorted(maps.Keys(q)) {
		l.Nodes = append(l.Nodes, task.Quarantined{Node: id, Until: q[id]})
	}
	b, _ := json.Marshal(l) // cannot fail: ids and times
	return Message{Message: session.Message{Topic: e.opts.Topics.TaskQuarantine(), QoS: 1, Retained: true, Payload: b}}
}

// writeQuarantine stores q, so that a restarted scheduler keeps the node
// in quarantine until q.Until (read onto the monotonic clock at load).
func (e *Engine) writeQuarantine(q *Quarantine) {
	v, err := frame(formatQuarantine, q)
	if err != nil {
		e.log.Error("quarantine does not encode", "node", q.Node, "err", err) // cannot happen
		return
	}
	e.units = append(e.units, Unit{{Key: quarantineKey(q.Node), Value: v}})
}
