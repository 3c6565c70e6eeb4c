package blob

import "time"

// The holder's view of a fetch (OnServed): a peer's fetch of a blob from
// this endpoint begins with its first want and ends with the have its
// fetcher sends once the blob is installed (EndpointOptions.Confirm). The
// holder cannot see the chunks arrive, so it takes the peer's have for it
// and measures from what it can see: the first want's arrival, the wants
// after it (a fetch that asks again for bytes it already asked for, or
// skips some, took a retry), its own hand-over of the blob's last chunk,
// and the have. A have that comes before that hand-over confirms what the
// peer cannot hold yet, and the fetch is no sample. A peer that asks
// slowly, or confirms late, seems slower than its link.

// ServeStats describe one fetch a peer made from this endpoint, as the
// holder saw it: what a link estimator learns of the holder → peer
// direction.
type ServeStats struct {
	From    int64 // offset of the fetch's first want: what the peer already had
	Bytes   int64 // bytes served to the fetch: the blob's size less From
	Retried bool  // a want asked again for what was asked, or skipped some; or the blob was restored meanwhile
	// Elapsed runs from the first want's arrival to the peer's have
	// (monotonic).
	Elapsed time.Duration
}

// Bounds of the fetches tracked for OnServed: a fetch whose fetcher never
// confirms (an agent that predates Confirm, an operator's client, a fetch
// abandoned) is dropped once idle for servedIdle and a new fetch needs its
// place; while maxServed are tracked and none is that idle, new fetches
// are served untracked (no sample).
const (
	maxServed  = 4096
	servedIdle = 10 * time.Minute
)

// serving is one fetch being served, tracked for OnServed.
type serving struct {
	start   time.Time // the first want's arrival
	from    int64     // its offset
	next    int64     // the end of what the wants asked for
	retried bool
	sent    time.Time // the hand-over of the blob's last chunk began
	seen    time.Time // the latest want
}

// noteWant tracks a want that arrived at now. Called with mu not held.
func (e *Endpoint) noteWant(peer string, m Message, now time.Time) {
	if e.opts.OnServed == nil {
		return
	}
	key := fetchKey{peer, m.ID}
	end := min(m.Offset+m.Length, m.ID.Size)
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.served[key]
	if s == nil {
		if len(e.served) >= maxServed && !e.evictServed(now) {
			return
		}
		e.served[key] = &serving{start: now, from: m.Offset, next: end, seen: now}
		return
	}
	if m.Offset != s.next {
		s.retried = true
	}
	s.next, s.seen = max(s.next, end), now
}

// evictServed drops the fetches idle for servedIdle; false if none was.
// Called with mu held.
func (e *Endpoint) evictServed(now time.Time) bool {
	n := len(e.served)
	for k, s := range e.served {
		if now.Sub(s.seen) >= servedIdle {
			delete(e.served, k)
		}
	}
	return len(e.served) < n
}

// noteServed records what serving peer's want for id came to: the blob's
// last chunk about to be handed over, a restore that makes the peer ask
// again (a retry), or a missing that ends the fetch.
func (e *Endpoint) noteServed(peer string, id ID, outcome serveOutcome) {
	if e.opts.OnServed == nil {
		return
	}
	key := fetchKey{peer, id}
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.served[key]
	if s == nil {
		return
	}
	switch outcome {
	case servedLast:
		s.sent = time.Now()
	case servedRestoring:
		s.retried = true
	case servedMissing:
		delete(e.served, key)
	}
}

type serveOutcome int

const (
	servedLast serveOutcome = iota
	servedRestoring
	servedMissing
)

// confirmed ends peer's fetch of id at its have, arriving at now, and
// reports it to OnServed if every byte of the blob was asked for and its
// last chunk handed over. It reports whether a fetch was tracked.
func (e *Endpoint) confirmed(peer string, id ID, now time.Time) bool {
	if e.opts.OnServed == nil {
		return false
	}
	key := fetchKey{peer, id}
	e.mu.Lock()
	s := e.served[key]
	delete(e.served, key)
	e.mu.Unlock()
	if s == nil {
		return false
	}
	if s.next < id.Size || s.sent.IsZero() {
		return true // a have for what this fetch did not ask for whole, or was not sent yet
	}
	e.opts.OnServed(peer, id, ServeStats{From: s.from, Bytes: id.Size - s.from, Retried: s.retried, Elapsed: now.Sub(s.start)})
	return true
}
