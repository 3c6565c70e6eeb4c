package fleet

import "time"

// span is a run of sequence numbers, lo..hi inclusive, not received yet.
// late is when the sender's From passed it (0: not passed, so on its way):
// the sender no longer holds it, and only a broker's redelivery can still
// bring it.
type span struct {
	lo, hi uint64
	late   instant
}

func (s span) len() uint64 { return s.hi - s.lo + 1 }

// maxHoles bounds the holes a stream remembers. An agent's outbox delivers
// its backlog in order, so a reconnect leaves one hole (the backlog behind
// the live reports) and a few more at most; a sender producing thousands
// is broken, and its oldest holes are counted as gaps.
const maxHoles = 256

// maxJump bounds how far one message may move a stream, forward or back.
// 2^32 reports is more than a century of 1 s reports, so no outage and no
// outbox bound makes a jump that large: a sender doing so restarted its
// count (or is broken), and the stream starts over at its seq instead of
// counting billions of gaps. It also keeps every hole, and so every sum of
// holes, far from overflowing.
const maxJump = 1 << 32

// stream accounts for one sequence of a node's messages (its agent's
// store, else its instance): the highest seq received, the holes below it
// (seqs not received yet, which may still come: a backlog delivered behind
// live reports), and the counts shown in the fleet rows.
//
// A hole below a message's From can no longer come from the agent (its
// outbox no longer holds it). With no redelivery window it becomes a gap at
// once. With one, it is late: a broker that acknowledged the message to the
// agent may still redeliver it behind newer ones (NATS does so after its
// ack wait when a delivery went unacknowledged), and a copy arriving within
// the window fills the hole and is applied; a late hole the window passes
// is a gap. A message without From (0) closes every hole below it, as for
// a sender that never reorders.
type stream struct {
	scope  string
	window time.Duration // how long a late hole is awaited; 0: not at all
	high   uint64        // 0: nothing received yet (unless seeded)
	seeded bool          // a birth set high: seqs above it are new, below it awaited or delivered
	holes  []span        // sorted, disjoint, all below high
	gaps   uint64        // messages lost for good; saturates
	dups   uint64        // messages received again, or below From and not in a hole; saturates
	resets uint64        // jumps beyond maxJump that started the count over
}

// satAdd is a+b, saturating at the largest uint64: counters shown to
// operators must never wrap to small numbers.
func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}

// seed starts a stream the scheduler has heard nothing of at an agent's
// birth: the agent made every seq up to seq, and its outbox still holds
// from..seq, which are on their way; everything below from was delivered
// (or dropped by the outbox, which a later From tells). A lost first report
// is then a hole like any other. A birth without from (0) only seeds a
// stream that has not begun (seq 0): what came before it is not known.
func (s *stream) seed(seq, from uint64) {
	if s.high != 0 || s.seeded {
		return
	}
	if from == 0 {
		if seq != 0 {
			return
		}
		from = 1
	}
	s.seeded, s.high = true, seq
	if from <= seq && seq-from < maxJump {
		s.holes = append(s.holes, span{lo: from, hi: seq})
	}
}

// jumped reports whether seq is further than maxJump from the highest
// seq received.
func (s *stream) jumped(seq uint64) bool {
	if seq > s.high {
		return seq-s.high > maxJump
	}
	return s.high-seq > maxJump
}

// accept records seq (with the sender's from), received at now, and
// reports whether the message is new and must be applied.
func (s *stream) accept(seq, from uint64, now instant) bool {
	fresh := true
	if (s.high != 0 || s.seeded) && s.jumped(seq) {
		// The sender started its count over (or is broken): what the
		// stream awaited will not come, and nothing in between is lost.
		s.gaps = satAdd(s.gaps, s.missing())
		s.high, s.seeded, s.holes = 0, false, s.holes[:0]
		s.resets = satAdd(s.resets, 1)
	}
	switch {
	case s.high == 0 && !s.seeded:
		// The first message heard of this stream (a new store, or a
		// scheduler restart): what the agent still holds before it is on
		// its way.
		if from > 0 && from < seq && seq-from <= maxJump {
			s.holes = append(s.holes, span{lo: from, hi: seq - 1})
		}
		s.high = seq
	case seq > s.high:
		if seq > s.high+1 {
			s.holes = append(s.holes, span{lo: s.high + 1, hi: seq - 1})
		}
		s.high = seq
	default:
		fresh = s.fill(seq)
		if !fresh {
			s.dups = satAdd(s.dups, 1)
		}
	}
	if from == 0 {
		from = seq
	}
	s.close(from, now)
	for len(s.holes) > maxHoles {
		s.gaps = satAdd(s.gaps, s.holes[0].len())
		s.holes = s.holes[1:]
	}
	return fresh
}

// fill removes seq from the holes; false if it was in none.
func (s *stream) fill(seq uint64) bool {
	for i, h := range s.holes {
		if seq < h.lo {
			return false
		}
		if seq > h.hi {
			continue
		}
		switch {
		case h.lo == h.hi:
			s.holes = append(s.holes[:i], s.holes[i+1:]...)
		case seq == h.lo:
			s.holes[i].lo++
		case seq == h.hi:
			s.holes[i].hi--
		default:
			s.holes = append(s.holes[:i+1], s.holes[i:]...)
			s.holes[i].hi, s.holes[i+1].lo = seq-1, seq+1
		}
		return true
	}
	return false
}

// close settles the holes below from, which the sender no longer holds:
// with no window they are gaps at once, else they are late from now on
// (a hole already late keeps its time). A hole across from is split there.
func (s *stream) close(from uint64, now instant) {
	if s.window > 0 {
		for i := 0; i < len(s.holes); i++ {
			h := s.holes[i]
			if h.lo >= from {
				break
			}
			if h.hi >= from && h.late == 0 {
				// Split: lo..from-1 is late, from..hi still awaited.
				s.holes = append(s.holes[:i+1], s.holes[i:]...)
				s.holes[i].hi, s.holes[i+1].lo = from-1, from
			}
			if s.holes[i].late == 0 {
				s.holes[i].late = now
			}
		}
		return
	}
	n := 0
	for _, h := range s.holes {
		switch {
		case h.hi < from:
			s.gaps = satAdd(s.gaps, h.len())
		case h.lo < from:
			s.gaps = satAdd(s.gaps, from-h.lo)
			h.lo = from
			s.holes[n] = h
			n++
		default:
			s.holes[n] = h
			n++
		}
	}
	s.holes = s.holes[:n]
}

// expire turns the late holes the window has passed into gaps. The window
// runs from when a hole turned late, or from since if that is later: the
// scheduler's link coming back, before which no broker could redeliver.
// It reports whether any hole expired.
func (s *stream) expire(now, since instant) bool {
	n := 0
	for _, h := range s.holes {
		if h.late != 0 && now.sub(max(h.late, since)) >= s.window {
			s.gaps = satAdd(s.gaps, h.len())
			continue
		}
		s.holes[n] = h
		n++
	}
	expired := n < len(s.holes)
	s.holes = s.holes[:n]
	return expired
}

// lateHoles reports whether the stream awaits a redelivery.
func (s *stream) lateHoles() bool {
	for _, h := range s.holes {
		if h.late != 0 {
			return true
		}
	}
	return false
}

// missing counts the seqs in holes.
func (s *stream) missing() uint64 {
	var m uint64
	for _, h := range s.holes {
		m = satAdd(m, h.len())
	}
	return m
}
