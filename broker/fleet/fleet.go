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
	"sync/atomic"
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
	// Now is the wall clock: it only stamps what is shown (last seen,
	// measured, the view's ts). Elapsed is the monotonic clock (time since
	// any fixed origin) every interval is measured on: heartbeats overdue,
	// the grace after a reconnect, the duplicate window, rebirth limits.
	// A wall clock stepped by NTP moves neither. Nil: time.Now and the
	// process's monotonic clock.
	Now     func() time.Time
	Elapsed func() time.Duration
	// Redelivery is how long a message the sender no longer holds (below
	// its From) is still awaited: a broker that acknowledged it may
	// redeliver it behind newer messages, and a copy within the window is
	// applied, not counted lost. 0 (the default): a hole below From is a
	// gap at once, right for a broker that delivers in order.
	Redelivery time.Duration
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
	if o.Elapsed == nil {
		origin := time.Now()
		o.Elapsed = func() time.Duration { return time.Since(origin) }
	}
}

// Node is the scheduler's record of one node. Copies are handed out; the
// Fleet owns the originals. The task engine gets its own view of it
// (taskengine.NodeState) and placement another (place.NodeSpec).
type Node struct {
	ID        string
	Facts     *protocol.Facts // nil until a birth is seen
	Online    bool
	Reason    string // why offline: lost, shutdown, overdue
	Instance  string // agent process behind the current birth
	BirthConn uint32 // connection of the current birth; its will carries the same
	Heartbeat time.Duration
	LastSeen  time.Time // scheduler's wall clock, last message received
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
	// DiskFull: the node's latest birth said its disk is full
	// (protocol.Health.DiskFull).
	DiskFull bool
	// Link is the node's link as the scheduler measured it (SetLink); nil
	// before a first measurement.
	Link *protocol.LinkEstimate

	seq   stream // the current sequence: Store, or the instance for agents without one
	clock bootClock
	seen  instant // LastSeen on the monotonic clock

	// retired maps replaced instances to when they were replaced.
	retired     map[string]instant
	lastFlip    instant // last time a retired instance came back
	lastRebirth instant
	lastWarn    instant // last duplicate notice asked for
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
	sh := f.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n, ok := sh.nodes[id]
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

// Fleet is safe for concurrent use. Its nodes are spread over shards by
// id, each with its own mutex: handling one node's message locks one shard
// for O(1) work, and whole-fleet work (Sweep, Summary, Table, draining the
// changed nodes) locks one shard at a time, so a message waits at most for
// a shard's share of a scan, never for the whole scan.
type Fleet struct {
	opts   Options
	shards [shards]shard

	rejected atomic.Uint64
	badRows  atomic.Uint64
	wan      atomic.Pointer[protocol.WANLink] // SetWAN; nil before

	linkMu sync.Mutex // guards linkDown and judgeFrom; never held with a shard's
	// linkDown: the scheduler has no broker connection, so silence says
	// nothing of the nodes. judgeFrom is when it last came back: no node
	// is overdue before a full heartbeat window after it.
	linkDown  bool
	judgeFrom instant
	// linkUpAt is judgeFrom for readers holding a shard's lock (an
	// instant; 0 before the link first came up).
	linkUpAt atomic.Int64

	changed chan struct{} // 1-buffered: "something changed since you looked"
	urgent  chan struct{} // 1-buffered: a node's online state changed
}

// shards is a power of two well above the cores a scheduler has, so two
// goroutines rarely want the same shard, and small enough that a scan's
// per-shard overhead is nothing (10,000 nodes: ~160 a shard).
const shards = 64

// shard holds the nodes whose id hashes to it.
type shard struct {
	mu    sync.Mutex // guards nodes and dirty
	nodes map[string]*Node
	// dirty holds, for each Consumer, the ids of nodes changed since it
	// last drained them.
	dirty [consumers]map[string]struct{}
}

// Consumer names a reader of the changed nodes (Drain); each has its own
// set, so neither misses what the other drained.
type Consumer int

const (
	// ForTasks: the task engine's view of the nodes.
	ForTasks Consumer = iota
	// ForView: the published per-node rows.
	ForView
	// ForDiscovery: Home Assistant discovery configs.
	ForDiscovery
	// ForDashboard: the web dashboard's live view.
	ForDashboard
	consumers
)

func (f *Fleet) shard(id string) *shard {
	h := uint32(2166136261) // FNV-1a, inline: no allocation on the hot path
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return &f.shards[h&(shards-1)]
}

// New returns an empty fleet.
func New(opts Options) *Fleet {
	opts.ensureDefaults()
	f := &Fleet{opts: opts, changed: make(chan struct{}, 1), urgent: make(chan struct{}, 1)}
	for i := range f.shards {
		f.shards[i].nodes = map[string]*Node{}
		for c := range f.shards[i].dirty {
			f.shards[i].dirty[c] = map[string]struct{}{}
		}
	}
	return f
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
	f.rejected.Add(1)
	f.notify()
}

// BadRow counts a row of the fleet view left out because it did not
// encode or validate.
func (f *Fleet) BadRow() { f.badRows.Add(1) }

// Get returns a copy of one node.
func (f *Fleet) Get(id string) (Node, bool) {
	sh := f.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n, ok := sh.nodes[id]
	if !ok {
		return Node{}, false
	}
	return f.snapshot(n, f.clock()), true
}

// snapshot copies n with its derived fields set.
func (f *Fleet) snapshot(n *Node, now instant) Node {
	c := *n
	c.retired = nil
	c.Duplicate = n.lastFlip != 0 && now.sub(n.lastFlip) < f.opts.DuplicateWindow
	return c
}

// node returns the node id of sh, made if new, and marks it changed for
// every consumer. sh.mu must be held.
func (f *Fleet) node(sh *shard, id string) *Node {
	n, ok := sh.nodes[id]
	if !ok {
		n = &Node{ID: id, Heartbeat: f.opts.DefaultHeartbeat, retired: map[string]instant{}}
		sh.nodes[id] = n
	}
	sh.touch(id)
	return n
}

// touch marks id changed for every consumer. sh.mu must be held.
func (sh *shard) touch(id string) {
	for c := range sh.dirty {
		sh.dirty[c][id] = struct{}{}
	}
}

// Drain calls fn with a copy of every node changed since c last drained,
// and forgets them; it holds one shard's lock at a time, and none while
// fn runs.
func (f *Fleet) Drain(c Consumer, fn func(Node)) {
	var batch []Node
	for i := range f.shards {
		sh := &f.shards[i]
		sh.mu.Lock()
		if len(sh.dirty[c]) == 0 {
			sh.mu.Unlock()
			continue
		}
		now := f.clock()
		batch = batch[:0]
		for id := range sh.dirty[c] {
			if n, ok := sh.nodes[id]; ok {
				batch = append(batch, f.snapshot(n, now))
			}
		}
		clear(sh.dirty[c])
		sh.mu.Unlock()
		for _, n := range batch {
			fn(n)
		}
	}
}

// MarkAll marks every node changed for c: after a reconnect, when its
// view must be published again in full.
func (f *Fleet) MarkAll(c Consumer) {
	for i := range f.shards {
		sh := &f.shards[i]
		sh.mu.Lock()
		for id := range sh.nodes {
			sh.dirty[c][id] = struct{}{}
		}
		sh.mu.Unlock()
	}
	f.notify()
}

// each calls fn on every node, one shard's lock at a time (held while fn
// runs: fn must be quick and must not call the Fleet).
func (f *Fleet) each(fn func(sh *shard, n *Node)) {
	for i := range f.shards {
		sh := &f.shards[i]
		sh.mu.Lock()
		for _, n := range sh.nodes {
			fn(sh, n)
		}
		sh.mu.Unlock()
	}
}

// switchInstance makes inst the node's current instance. It reports a
// duplicate when inst was recently replaced: an old instance coming back
// means two live agents take turns with the node id. The WarnDuplicate it
// returns is limited to one per RebirthEvery.
func (f *Fleet) switchInstance(n *Node, inst string, now instant) Actions {
	if n.Instance == inst {
		return 0
	}
	for old, at := range n.retired {
		if now.sub(at) > f.opts.DuplicateWindow {
			delete(n.retired, old)
		}
	}
	var act Actions
	if _, seen := n.retired[inst]; seen {
		n.lastFlip = now
		if n.lastWarn == 0 || now.sub(n.lastWarn) >= f.opts.RebirthEvery {
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
func forgetOldest(retired map[string]instant, max int) {
	for len(retired) > max {
		var oldest string
		var at instant
		for inst, t := range retired {
			if oldest == "" || t < at || (t == at && inst < oldest) {
				oldest, at = inst, t
			}
		}
		delete(retired, oldest)
	}
}
