// Package fleet is the scheduler's live view of a region's nodes: facts from
// births, latest metrics, online state from births, wills, goodbyes and
// overdue heartbeats, sequence gaps and duplicates, and agents that share a
// node id. It is soft state, rebuilt from retained births and fresh reports
// after a restart; it does no I/O.
//
// A node's online state:
//
//	          birth / metrics
//	(unknown) ───────────────▶ online ◀──────────────┐
//	                             │ will (same instance)│ birth / metrics
//	                             │ goodbye             │
//	                             │ heartbeat overdue   │
//	                             ▼                     │
//	                          offline ────────────────┘
package fleet

import (
	"sort"
	"sync"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

// Options configure a Fleet.
type Options struct {
	// Grace is added to a node's heartbeat before it is declared overdue:
	// it absorbs network delay and a sample that took long. Default 15 s.
	Grace time.Duration
	// DefaultHeartbeat applies to nodes whose birth has not been seen.
	// Default 60 s, the agent's default.
	DefaultHeartbeat time.Duration
	// DuplicateWindow is how long a replaced instance is remembered: a
	// birth or report from it within the window means two agents share a
	// node id. Default 10 min.
	DuplicateWindow time.Duration
	// RebirthEvery limits rebirth requests to one node. Default 30 s.
	RebirthEvery time.Duration
	Now          func() time.Time
}

func (o *Options) ensureDefaults() {
	if o.Grace <= 0 {
		o.Grace = 15 * time.Second
	}
	if o.DefaultHeartbeat <= 0 {
		o.DefaultHeartbeat = 60 * time.Second
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = 10 * time.Minute
	}
	if o.RebirthEvery <= 0 {
		o.RebirthEvery = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Node is the scheduler's record of one node. Copies are handed out; the
// Fleet owns the originals.
type Node struct {
	ID        string
	Facts     *protocol.Facts // nil until a birth is seen
	Online    bool
	Reason    string // why offline: lost, shutdown, overdue
	Instance  string // agent process behind the current birth
	BirthConn uint32 // connection of the current birth; its will carries the same
	Heartbeat time.Duration
	LastSeen  time.Time // scheduler clock, last message received
	Metrics   *protocol.Metrics
	// Measured is when the latest metrics were taken, on the scheduler's
	// clock (see bootClock); ClockSkew is the node's wall clock minus the
	// scheduler's, from the latest message that could be placed.
	Measured  time.Time
	ClockSkew time.Duration
	// StoreRecovered is when the node last reported replacing a damaged
	// store (records it held were lost).
	StoreRecovered time.Time
	LastSeq        uint64 // highest seq received in the current sequence
	Gaps           uint64 // messages lost for good, by sequence number
	Missing        uint64 // messages not received yet below LastSeq (a backlog on its way)
	Dups           uint64 // messages whose seq was not new
	// Duplicate: more than one agent uses this node id — an instance that
	// had been replaced came back within the DuplicateWindow.
	Duplicate bool

	seq   stream // the current sequence: Store, or the instance for agents without one
	clock bootClock

	// retired maps replaced instances to when they were replaced.
	retired     map[string]time.Time
	lastFlip    time.Time // last time a retired instance came back
	lastRebirth time.Time
	lastWarn    time.Time // last duplicate notice asked for
}

// Actions are what the scheduler should send a node after a message.
type Actions uint8

const (
	// AskRebirth: the node's birth was never seen (a partial retained
	// burst at startup) or belongs to another instance.
	AskRebirth Actions = 1 << iota
	// WarnDuplicate: more than one agent takes turns with the node id.
	WarnDuplicate
)

// Instances returns the node's current instance followed by those replaced
// within the duplicate window: the agents sharing a flagged node id.
func (f *Fleet) Instances(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[id]
	if !ok {
		return nil
	}
	out := []string{n.Instance}
	for inst := range n.retired {
		out = append(out, inst)
	}
	sort.Strings(out[1:])
	return out
}

// Fleet is safe for concurrent use.
type Fleet struct {
	opts Options

	mu       sync.Mutex // guards nodes, rejected, linkDown and judgeFrom
	nodes    map[string]*Node
	rejected uint64
	// linkDown: the scheduler has no broker connection, so silence says
	// nothing of the nodes. judgeFrom is when it last came back: no node
	// is overdue before a full heartbeat window after it.
	linkDown  bool
	judgeFrom time.Time

	changed chan struct{} // 1-buffered: "something changed since you looked"
	urgent  chan struct{} // 1-buffered: a node's online state changed
}

// New returns an empty fleet.
func New(opts Options) *Fleet {
	opts.ensureDefaults()
	return &Fleet{opts: opts, nodes: map[string]*Node{}, changed: make(chan struct{}, 1), urgent: make(chan struct{}, 1)}
}

// Changed is signalled (coalesced) whenever the view changes.
func (f *Fleet) Changed() <-chan struct{} { return f.changed }

// Urgent is signalled (coalesced) when a node appears, comes online or goes
// offline: changes a monitor should see at once, unlike new metrics.
func (f *Fleet) Urgent() <-chan struct{} { return f.urgent }

func (f *Fleet) notify() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *Fleet) notifyUrgent() {
	select {
	case f.urgent <- struct{}{}:
	default:
	}
	f.notify()
}

// Touch signals an urgent change without one: the scheduler
// (re)connected and its retained view must be published again.
func (f *Fleet) Touch() { f.notifyUrgent() }

// Reject counts a message that failed validation.
func (f *Fleet) Reject() {
	f.mu.Lock()
	f.rejected++
	f.mu.Unlock()
	f.notify()
}

// Get returns a copy of one node.
func (f *Fleet) Get(id string) (Node, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[id]
	if !ok {
		return Node{}, false
	}
	return f.snapshot(n, f.opts.Now()), true
}

// snapshot copies n with its derived fields set.
func (f *Fleet) snapshot(n *Node, now time.Time) Node {
	c := *n
	c.retired = nil
	c.Duplicate = !n.lastFlip.IsZero() && now.Sub(n.lastFlip) < f.opts.DuplicateWindow
	return c
}

func (f *Fleet) node(id string) *Node {
	n, ok := f.nodes[id]
	if !ok {
		n = &Node{ID: id, Heartbeat: f.opts.DefaultHeartbeat, retired: map[string]time.Time{}}
		f.nodes[id] = n
	}
	return n
}

// switchInstance makes inst the node's current instance. It reports a
// duplicate when inst was recently replaced: an old instance coming back
// means two live agents take turns with the node id. The WarnDuplicate it
// returns is limited to one per RebirthEvery.
func (f *Fleet) switchInstance(n *Node, inst string, now time.Time) Actions {
	if n.Instance == inst {
		return 0
	}
	for old, at := range n.retired {
		if now.Sub(at) > f.opts.DuplicateWindow {
			delete(n.retired, old)
		}
	}
	var act Actions
	if _, seen := n.retired[inst]; seen {
		n.lastFlip = now
		if now.Sub(n.lastWarn) >= f.opts.RebirthEvery {
			n.lastWarn = now
			act = WarnDuplicate
		}
	}
	if n.Instance != "" {
		n.retired[n.Instance] = now
	}
	delete(n.retired, inst)
	n.Instance = inst
	forgetOldest(n.retired, maxRetired)
	return act
}

// maxRetired bounds the replaced instances remembered per node. Two agents
// sharing a node id take turns with two instances (a few more across their
// restarts), so a handful proves a clash; a sender cycling through new
// instance ids must not grow the record, nor the duplicate notice and log
// line listing them.
const maxRetired = 8

// forgetOldest drops the earliest replaced instances beyond max.
func forgetOldest(retired map[string]time.Time, max int) {
	for len(retired) > max {
		var oldest string
		var at time.Time
		for inst, t := range retired {
			if oldest == "" || t.Before(at) || (t.Equal(at) && inst < oldest) {
				oldest, at = inst, t
			}
		}
		delete(retired, oldest)
	}
}
