package store

import (
	"slices"
	"time"
)

// index is the outbox in memory: one small entry per record, in seq order,
// so that bounds, statistics and acknowledgements need no reads. 24 bytes a
// record: 8 MiB of 1 KiB reports is about 200 KiB of index.
type index struct {
	e     []entry // seq ascending; entries marked gone are removed lazily
	live  int     // entries neither acked nor gone
	bytes int64   // their sizes
	gone  int
}

type entry struct {
	seq  uint64
	at   int64  // on the age clock (Store.age), nanoseconds
	size uint32 // key + value bytes on disk
	kind Kind
	st   entryState
}

type entryState uint8

const (
	live   entryState = iota
	acked             // the broker has it: deleted at the next commit
	victim            // chosen by the bounds for the commit in progress
	gone              // deleted
)

// add appends a committed record; seqs only grow.
func (ix *index) add(e entry) {
	ix.e = append(ix.e, e)
	ix.live++
	ix.bytes += int64(e.size)
}

func (ix *index) find(seq uint64) *entry {
	i, ok := slices.BinarySearchFunc(ix.e, seq, func(e entry, s uint64) int {
		switch {
		case e.seq < s:
			return -1
		case e.seq > s:
			return 1
		}
		return 0
	})
	if !ok || ix.e[i].st == gone {
		return nil
	}
	return &ix.e[i]
}

// setState moves an entry between states, keeping the totals.
func (ix *index) setState(e *entry, st entryState) {
	wasLive, isLive := e.st == live, st == live
	switch {
	case wasLive && !isLive:
		ix.live--
		ix.bytes -= int64(e.size)
	case !wasLive && isLive:
		ix.live++
		ix.bytes += int64(e.size)
	}
	if st == gone {
		ix.gone++
	}
	e.st = st
}

// remove marks seq deleted and compacts when half the entries are gone.
func (ix *index) remove(seq uint64) {
	if e := ix.find(seq); e != nil {
		ix.setState(e, gone)
	}
	if ix.gone > 64 && ix.gone > len(ix.e)/2 {
		ix.e = slices.DeleteFunc(ix.e, func(e entry) bool { return e.st == gone })
		ix.gone = 0
	}
}

// oldestLive returns the first entry that is live.
func (ix *index) oldestLive() (entry, bool) {
	for _, e := range ix.e {
		if e.st == live {
			return e, true
		}
	}
	return entry{}, false
}

// boundsPlan is what the bounds remove at a commit.
type boundsPlan struct {
	downsampled, dropped []uint64
	overflow             bool // still over MaxOutboxBytes: only status and events left
	acks, corrupt        []uint64
}

// planBounds chooses the metrics to remove so the outbox, with incoming
// more bytes, fits maxBytes, and removes metrics older than maxAge (now on
// the age clock). Over the bound it frees down to 90% of it, so it works at
// one commit in many, not at every one:
//
//  1. every other metric among the oldest half of the records is removed
//     (downsampling: the older a backlog, the sparser, and a long outage
//     still shows its trend);
//  2. if that is not enough, the oldest metrics are dropped;
//  3. status records and task events are never removed: if only they are
//     left, the outbox stays over its bound and says so (overflow).
//
// Chosen entries are marked victim; the caller marks them gone after the
// commit, or live again if it failed.
func (ix *index) planBounds(incoming, maxBytes int64, now, maxAge int64) boundsPlan {
	var p boundsPlan
	for i := range ix.e {
		e := &ix.e[i]
		if e.st == live && e.kind.droppable() && now-e.at > maxAge {
			ix.setState(e, victim)
			p.dropped = append(p.dropped, e.seq)
		}
	}
	total := ix.bytes + incoming
	if total <= maxBytes {
		return p
	}
	need := total - maxBytes*9/10
	// 1. Downsample the oldest half.
	half, seen, nth := ix.live/2, 0, 0
	for i := range ix.e {
		e := &ix.e[i]
		if need <= 0 || seen >= half {
			break
		}
		if e.st != live {
			continue
		}
		seen++
		if !e.kind.droppable() {
			continue
		}
		nth++
		if nth%2 == 0 {
			need -= int64(e.size)
			ix.setState(e, victim)
			p.downsampled = append(p.downsampled, e.seq)
		}
	}
	// 2. Drop the oldest.
	for i := range ix.e {
		e := &ix.e[i]
		if need <= 0 {
			break
		}
		if e.st == live && e.kind.droppable() {
			need -= int64(e.size)
			ix.setState(e, victim)
			p.dropped = append(p.dropped, e.seq)
		}
	}
	p.overflow = ix.bytes+incoming > maxBytes
	return p
}

// ageClock measures record ages on the monotonic clock: a Pi without a
// real-time clock may jump years when NTP syncs. Tests replace elapsed.
type ageClock struct {
	start   time.Time
	elapsed func() time.Duration // nil: time.Since(start)
}

func (c ageClock) now() int64 {
	if c.elapsed != nil {
		return int64(c.elapsed())
	}
	return int64(time.Since(c.start))
}
