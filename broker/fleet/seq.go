package fleet

// span is a run of sequence numbers, lo..hi inclusive.
type span struct{ lo, hi uint64 }

func (s span) len() uint64 { return s.hi - s.lo + 1 }

// maxHoles bounds the holes a stream remembers. An agent's outbox delivers
// its backlog in order, so a reconnect leaves one hole (the backlog behind
// the live reports) and a few more at most; a sender producing thousands
// is broken, and its oldest holes are counted as gaps.
const maxHoles = 256

// stream accounts for one sequence of a node's messages (its agent's
// store, else its instance): the highest seq received, the holes below it
// (seqs not received yet, which may still come: a backlog delivered behind
// live reports), and the counts shown in the fleet table.
//
// A hole below a message's From can never be filled (the agent's outbox no
// longer holds it): it becomes a gap. A message without From (0) closes
// every hole below it at once, as for a sender that never reorders.
type stream struct {
	scope string
	high  uint64 // 0: nothing received yet
	holes []span // sorted, disjoint, all below high
	gaps  uint64 // messages lost for good
	dups  uint64 // messages received again, or below From and not in a hole
}

// accept records seq (with the sender's from) and reports whether the
// message is new and must be applied.
func (s *stream) accept(seq, from uint64) bool {
	fresh := true
	switch {
	case s.high == 0:
		// The first message heard of this stream (a new store, or a
		// scheduler restart): what the agent still holds before it is on
		// its way.
		if from > 0 && from < seq {
			s.holes = append(s.holes, span{from, seq - 1})
		}
		s.high = seq
	case seq > s.high:
		if seq > s.high+1 {
			s.holes = append(s.holes, span{s.high + 1, seq - 1})
		}
		s.high = seq
	default:
		fresh = s.fill(seq)
		if !fresh {
			s.dups++
		}
	}
	if from == 0 {
		from = seq
	}
	s.close(from)
	for len(s.holes) > maxHoles {
		s.gaps += s.holes[0].len()
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

// close turns the holes below from into gaps.
func (s *stream) close(from uint64) {
	n := 0
	for _, h := range s.holes {
		switch {
		case h.hi < from:
			s.gaps += h.len()
		case h.lo < from:
			s.gaps += from - h.lo
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

// missing counts the seqs in holes.
func (s *stream) missing() uint64 {
	var m uint64
	for _, h := range s.holes {
		m += h.len()
	}
	return m
}
