package taskengine

import (
	"context"
	"log/slog"
	"sync"

	"github.com/tether-edge/tether/pkg/session"
)

// publishWindow bounds the messages handed to the connection whose PUBACKs
// have not come back. The window slides: a message frees its slot when its
// own PUBACK arrives or it fails, not when the rest of a batch does. A
// message the broker holds back — one to a node whose session is full
// gets no PUBACK, and fails only after the session's OpTimeout — takes one
// slot for that long, not the whole publisher: a node that stops
// acknowledging its commands cannot delay anyone else's.
const publishWindow = 256

// statusShare is the part of the window kept for queued statuses, so a
// stream of replies and assignments cannot hold them back for good.
const statusShare = publishWindow / 4

// publisher publishes committed messages off the engine's goroutine (a
// PUBACK is read by the session's receive path, which the engine's inputs
// come from), from two queues, each in order:
//   - the urgent one, published first: replies, assignments and cancels
//     (not retained), which a requester or a node waits for (statusShare
//     of the window stays for statuses);
//   - the statuses (retained), which only observers read: one still
//     queued when a newer one for the same task arrives is replaced by it,
//     so a backlog holds one status per task, and a burst's statuses wait
//     behind its replies and assignments rather than delay them.
//
// A retained message that fails is queued again for the next connection,
// unless a newer one for its topic was queued or handed over since. A
// reply or an assignment that fails is dropped: the requester retries, and
// an unacknowledged assignment is re-sent.
type publisher struct {
	sess      *session.Session
	log       *slog.Logger
	announced func(id string) // a finished task's final status was acknowledged

	mu       sync.Mutex // guards the fields below
	urgent   []Message
	queue    []Message      // retained
	index    map[string]int // retained topic → its position in queue
	inflight int            // handed over, not yet acknowledged or failed
	statuses int            // of inflight, retained
	seq      uint64
	latest   map[string]uint64 // retained topic → seq of its newest message in flight
	failed   int               // retained messages failed since the last log line
	firstErr error

	wake chan struct{} // 1-buffered: a message queued or a slot freed
	wg   sync.WaitGroup
}

// handed is a message taken from the queues, with its place in the order
// of its topic's messages.
type handed struct {
	Message
	seq uint64
}

func newPublisher(sess *session.Session, log *slog.Logger, announced func(string)) *publisher {
	return &publisher{sess: sess, log: log, announced: announced, index: map[string]int{},
		latest: map[string]uint64{}, wake: make(chan struct{}, 1)}
}

func (p *publisher) enqueue(ms []Message) {
	if len(ms) == 0 {
		return
	}
	p.mu.Lock()
	for _, m := range ms {
		p.add(m)
	}
	p.mu.Unlock()
	p.signal()
}

func (p *publisher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// add queues m; the caller holds mu.
func (p *publisher) add(m Message) {
	if !m.Retained {
		p.urgent = append(p.urgent, m)
		return
	}
	if i, ok := p.index[m.Topic]; ok {
		p.queue[i] = m
		return
	}
	p.index[m.Topic] = len(p.queue)
	p.queue = append(p.queue, m)
}

// take removes as many messages as the window has free slots from the
// fronts of the queues, the urgent one's first, but statuses first up to
// statusShare in flight when that many are queued. It counts them in
// flight: each must be given to done.
func (p *publisher) take() []handed {
	p.mu.Lock()
	defer p.mu.Unlock()
	free := publishWindow - p.inflight
	if free <= 0 {
		return nil
	}
	s := min(len(p.queue), max(0, statusShare-p.statuses), free)
	u := min(len(p.urgent), free-s)
	n := min(len(p.queue), free-u)
	out := make([]handed, 0, u+n)
	for _, m := range p.urgent[:u] {
		p.seq++
		out = append(out, handed{m, p.seq})
	}
	for _, m := range p.queue[:n] {
		p.seq++
		p.latest[m.Topic] = p.seq
		out = append(out, handed{m, p.seq})
	}
	p.urgent = append(p.urgent[:0], p.urgent[u:]...)
	if n > 0 {
		p.queue = append(p.queue[:0], p.queue[n:]...)
		clear(p.index)
		for i, m := range p.queue {
			p.index[m.Topic] = i
		}
	}
	p.inflight += u + n
	p.statuses += n
	return out
}

// done ends h's time in flight: err nil, acknowledged. A failed retained
// message goes back in front of the queue unless a newer one for its topic
// is queued, in flight or acknowledged.
func (p *publisher) done(h handed, err error) {
	p.mu.Lock()
	p.inflight--
	if h.Retained {
		p.statuses--
		newest := p.latest[h.Topic] == h.seq
		if newest {
			delete(p.latest, h.Topic)
		}
		if _, queued := p.index[h.Topic]; err != nil && newest && !queued {
			p.queue = append([]Message{h.Message}, p.queue...)
			clear(p.index)
			for i, m := range p.queue {
				p.index[m.Topic] = i
			}
			p.failed++
			if p.firstErr == nil {
				p.firstErr = err
			}
		}
	}
	p.mu.Unlock()
	switch {
	case err == nil:
		if h.Finished != "" {
			p.announced(h.Finished)
		}
	case !h.Retained:
		p.log.Debug("message not published", "topic", h.Topic, "err", err)
	}
	p.signal()
}

// ready reports whether a message is queued and the window has room.
func (p *publisher) ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.urgent)+len(p.queue) > 0 && p.inflight < publishWindow
}

// logFailures says once how many statuses failed since it last did.
func (p *publisher) logFailures() {
	p.mu.Lock()
	n, err := p.failed, p.firstErr
	p.failed, p.firstErr = 0, nil
	p.mu.Unlock()
	if n > 0 {
		p.log.Warn("task statuses not published: trying again", "count", n, "err", err)
	}
}

// run publishes until ctx ends, then waits for the messages in flight
// (their waits end with ctx). Once ctx has ended, failures queued again
// are not sent round again while the connection is still up.
func (p *publisher) run(ctx context.Context) {
	defer p.wg.Wait()
	for ctx.Err() == nil {
		if !p.ready() {
			select {
			case <-ctx.Done():
				return
			case <-p.wake:
				continue
			}
		}
		if err := p.sess.WaitConnected(ctx); err != nil {
			return
		}
		p.logFailures()
		for _, h := range p.take() {
			inf, err := p.sess.PublishAsync(h.Message.Message)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				if err == nil {
					err = inf.Wait(ctx)
				}
				p.done(h, err)
			}()
		}
	}
}
