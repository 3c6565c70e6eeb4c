package fleet

import (
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

// HandleStatus applies a node's birth, will or goodbye and returns what the
// scheduler should send the node. retained is true for a status replayed
// by the broker on subscribe: it may be old, so it does not seed the
// node's sequence.
func (f *Fleet) HandleStatus(st protocol.NodeStatus, retained bool) Actions {
	sh := f.shard(st.Node)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	wall, now := f.opts.Now(), f.clock()
	n := f.node(sh, st.Node)
	wasOnline := n.Online
	var act Actions
	switch st.State {
	case protocol.StateOnline:
		act = f.switchInstance(n, st.Instance, now)
		n.Facts = st.Facts
		if st.Recovery != nil {
			n.StoreRecovered = st.Recovery.At
		}
		n.Online, n.Reason = true, ""
		n.BirthConn = st.Conn
		n.DiskFull = st.Health != nil && st.Health.DiskFull
		if st.HeartbeatS > 0 {
			n.Heartbeat = time.Duration(st.HeartbeatS * float64(time.Second))
		}
		// Status messages are not counted in the sequence: their seq is
		// the stream's position. A live birth of a sequence not heard
		// yet seeds it, so a lost first report counts as a gap. An agent
		// that started on a full disk has not opened its store: its
		// birth has no place in the stream, and what its store still
		// holds for the scheduler is still awaited.
		if !retained && (st.Store != "" || !n.DiskFull) {
			f.follow(n, st.Header)
			gaps, dups := n.seq.gaps, n.seq.dups
			n.seq.seed(st.Seq, st.From)
			f.counted(n, gaps, dups)
		}
		f.place(n, st.Header, wall, now)
		n.LastSeen, n.seen = wall, now
	case protocol.StateOffline:
		// Only the current instance can take the node offline, and a
		// will only for the connection of the current birth: a late will
		// of an earlier connection or process must not.
		if st.Instance != n.Instance {
			return 0
		}
		if st.Reason == protocol.ReasonLost && st.Conn != n.BirthConn {
			return 0
		}
		n.Online, n.Reason = false, st.Reason
		if n.Reason == "" {
			n.Reason = protocol.ReasonLost
		}
	}
	if n.Online != wasOnline || st.State == protocol.StateOnline {
		f.notifyUrgent() // births too: facts may have changed
	} else {
		f.notify()
	}
	return act
}

// HandleMetrics applies a resource report and returns what the scheduler
// should send the node: a rebirth request when its birth was never seen (a
// partial retained burst at startup).
//
// A report's instance is that of the process that made it, which after a
// restart may be an earlier one (the outbox delivers what it kept), so
// reports take no part in telling instances apart: births do.
func (f *Fleet) HandleMetrics(m protocol.Metrics) Actions {
	sh := f.shard(m.Node)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	wall, now := f.opts.Now(), f.clock()
	n := f.node(sh, m.Node)
	fresh, newest := f.account(n, m.Header)
	if !fresh {
		return 0
	}
	var act Actions
	if newest || n.Metrics == nil {
		// The newest report is the node's state; an older one (a backlog
		// delivered behind live reports) is only counted.
		mm := m
		n.Metrics = &mm
		n.Measured = f.place(n, m.Header, wall, now)
	}
	wasOnline := n.Online
	n.Online, n.Reason = true, ""
	n.LastSeen, n.seen = wall, now
	if !wasOnline {
		f.notifyUrgent()
	} else {
		f.notify()
	}
	if n.Facts == nil && (n.lastRebirth == 0 || now.sub(n.lastRebirth) >= f.opts.RebirthEvery) {
		n.lastRebirth = now
		act |= AskRebirth
	}
	return act
}

// place returns when a message received at wall (now on the monotonic
// clock) was made, on the scheduler's wall clock, and updates the node's
// clock skew when the message could be placed.
func (f *Fleet) place(n *Node, h protocol.Header, wall time.Time, now instant) time.Time {
	at, ok := n.clock.observe(h, wall, now)
	// A node's up_ms can place a message up to a century away; the
	// table's times stay within the protocol's window.
	if at.Before(protocol.MinTime) {
		at = protocol.MinTime
	} else if !at.Before(protocol.MaxTime) {
		at = protocol.MaxTime.Add(-time.Millisecond)
	}
	if ok {
		n.ClockSkew = h.TS.Sub(at)
	}
	return at
}

// account checks a message's seq against its sequence (the agent's store,
// else its instance). It returns false for a message already received (or
// lost for good: below the sender's From and not awaited), which must not be
// applied, and whether the message is the newest of its sequence.
func (f *Fleet) account(n *Node, h protocol.Header) (fresh, newest bool) {
	f.follow(n, h)
	gaps, dups := n.seq.gaps, n.seq.dups
	now := f.clock()
	n.seq.expire(now, f.linkSince())
	fresh = n.seq.accept(h.Seq, h.From, now)
	f.counted(n, gaps, dups)
	return fresh, fresh && h.Seq == n.seq.high
}

// follow makes the message's sequence the node's current one: a new
// sequence's counts start over, and what the old one still awaited will
// not come.
func (f *Fleet) follow(n *Node, h protocol.Header) {
	scope := h.Store
	if scope == "" {
		scope = "instance:" + h.Instance
	}
	if scope != n.seq.scope {
		n.Gaps = satAdd(n.Gaps, n.seq.missing())
		n.seq = stream{scope: scope, window: f.opts.Redelivery}
	}
}

// counted moves what the stream counted since gaps and dups were read
// into the node's totals.
func (f *Fleet) counted(n *Node, gaps, dups uint64) {
	n.Gaps = satAdd(n.Gaps, n.seq.gaps-gaps)
	n.Dups = satAdd(n.Dups, n.seq.dups-dups)
	n.LastSeq, n.Missing = n.seq.high, n.seq.missing()
}

// Accept accounts for a counted message the fleet does not apply itself (a
// task event: one sequence with the node's metrics) and reports whether it
// is new. A message it returns false for was received before.
func (f *Fleet) Accept(h protocol.Header) bool {
	sh := f.shard(h.Node)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := f.node(sh, h.Node)
	ok, _ := f.account(n, h)
	if ok {
		n.LastSeen, n.seen = f.opts.Now(), f.clock()
	}
	return ok
}

// LinkDown says the scheduler lost its broker connection: while it is
// away no node's silence is judged (Sweep declares none overdue), since
// the silence is the scheduler's own.
func (f *Fleet) LinkDown() {
	f.linkMu.Lock()
	f.linkDown = true
	f.linkMu.Unlock()
}

// LinkUp says the scheduler's broker connection is up (again): every node
// gets a full heartbeat window and grace from now before Sweep may
// declare it overdue, time for the broker to deliver what it queued and
// for agents that reconnected too to send their births.
func (f *Fleet) LinkUp() {
	now := f.clock()
	f.linkMu.Lock()
	f.judgeFrom = now
	f.linkDown = false
	f.linkMu.Unlock()
	f.linkUpAt.Store(int64(now))
}

// linkSince is when the scheduler's link last came up (0 before it
// ever did). It takes no lock, so a shard's holder may read it.
func (f *Fleet) linkSince() instant { return instant(f.linkUpAt.Load()) }

// Sweep marks online nodes whose heartbeat is overdue offline and returns
// their ids, and counts as gaps the late messages whose redelivery window
// has passed (for nodes that sent nothing since). Call it about once a
// second. It judges no node while the scheduler's link is down, and none
// before a heartbeat window after the link came back.
func (f *Fleet) Sweep() []string {
	f.linkMu.Lock()
	down, from := f.linkDown, f.judgeFrom
	f.linkMu.Unlock()
	if down {
		return nil
	}
	now := f.clock()
	var gone []string
	f.each(func(sh *shard, n *Node) {
		if n.seq.window > 0 && n.seq.lateHoles() {
			gaps, dups := n.seq.gaps, n.seq.dups
			if n.seq.expire(now, from) {
				f.counted(n, gaps, dups)
				sh.touch(n.ID)
			}
		}
		if n.Online && now.sub(max(n.seen, from)) > n.Heartbeat+f.opts.Grace {
			n.Online, n.Reason = false, "overdue"
			sh.touch(n.ID)
			gone = append(gone, n.ID)
		}
	})
	if len(gone) > 0 {
		f.notifyUrgent()
	}
	return gone
}
