package powerloss

import (
	"sort"
	"strconv"
	"strings"
)

// SeqSet is a set of sequence numbers kept as sorted, disjoint,
// non-adjacent inclusive spans: a store's records are mostly one run.
type SeqSet struct {
	spans []span
}

type span struct{ from, to uint64 }

// Add inserts from..to (inclusive) and returns how many of those seqs were
// already present.
func (s *SeqSet) Add(from, to uint64) (dup uint64) {
	if n := len(s.spans); n > 0 { // the common case: appending
		last := &s.spans[n-1]
		if from > last.to {
			if from == last.to+1 {
				last.to = to
			} else {
				s.spans = append(s.spans, span{from, to})
			}
			return 0
		}
	}
	// First span that touches or follows from..to.
	i := sort.Search(len(s.spans), func(i int) bool { return s.spans[i].to+1 >= from })
	j := i
	merged := span{from, to}
	for ; j < len(s.spans) && s.spans[j].from <= to+1; j++ {
		sp := s.spans[j]
		if lo, hi := max(sp.from, from), min(sp.to, to); lo <= hi {
			dup += hi - lo + 1
		}
		merged.from, merged.to = min(merged.from, sp.from), max(merged.to, sp.to)
	}
	s.spans = append(s.spans[:i], append([]span{merged}, s.spans[j:]...)...)
	return dup
}

// Contains reports whether seq is in the set.
func (s *SeqSet) Contains(seq uint64) bool {
	i := sort.Search(len(s.spans), func(i int) bool { return s.spans[i].to >= seq })
	return i < len(s.spans) && s.spans[i].from <= seq
}

// Len is the number of seqs in the set.
func (s *SeqSet) Len() uint64 {
	var n uint64
	for _, sp := range s.spans {
		n += sp.to - sp.from + 1
	}
	return n
}

// Max returns the largest seq; ok is false for an empty set.
func (s *SeqSet) Max() (seq uint64, ok bool) {
	if len(s.spans) == 0 {
		return 0, false
	}
	return s.spans[len(s.spans)-1].to, true
}

// Minus returns the seqs of s that are not in o.
func (s *SeqSet) Minus(o *SeqSet) *SeqSet {
	out := &SeqSet{}
	j := 0
	for _, sp := range s.spans {
		for j < len(o.spans) && o.spans[j].to < sp.from {
			j++
		}
		cur, covered := sp.from, false
		for k := j; k < len(o.spans) && o.spans[k].from <= sp.to; k++ {
			if o.spans[k].from > cur {
				out.Add(cur, o.spans[k].from-1)
			}
			if o.spans[k].to >= sp.to {
				covered = true
				break
			}
			cur = max(cur, o.spans[k].to+1) // to < sp.to: no overflow
		}
		if !covered {
			out.Add(cur, sp.to)
		}
	}
	return out
}

// Remove deletes every seq of o from s.
func (s *SeqSet) Remove(o *SeqSet) { s.spans = s.Minus(o).spans }

// String lists the spans as "1-5,9".
func (s *SeqSet) String() string { return s.Format(0) }

// Format is String with at most limit spans (0: all), then "…".
func (s *SeqSet) Format(limit int) string {
	var b strings.Builder
	for i, sp := range s.spans {
		if limit > 0 && i == limit {
			b.WriteString(",…")
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(sp.from, 10))
		if sp.to != sp.from {
			b.WriteByte('-')
			b.WriteString(strconv.FormatUint(sp.to, 10))
		}
	}
	return b.String()
}
