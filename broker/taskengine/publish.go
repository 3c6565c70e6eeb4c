package taskengine

import (
	"context"
	"log/slog"
	"sync"

	"github.com/tether-edge/tether/pkg/session"
)

// publishWindow bounds the messages handed to the connection before their
// PUBACKs are waited for.
const publishWindow = 256

// publisher publishes committed messages off the engine's goroutine (a
// PUBACK is read by the session's receive path, which the engine's inputs
// come from), in two queues, each in order:
//   - the urgent one, published first: replies, assignments and cancels
//     (not retained), which a requester or a node waits for (a quarter of
//     each window stays for statuses, statusShare);
//   - the statuses (retained), which only observers read: one still
//     queued when a newer one for the same task arrives is replaced by it,
//     so a backlog holds one status per task, and a burst's statuses wait
//     behind its replies and assignments rather than delay them.
//
// A retained message that fails is queued again for the next connection.
// A reply or an assignment that fails is dropped: the requester retries,
// and an unacknowledged assignment is re-sent.
type publisher struct {
	sess      *session.Session
	log       *slog.Logger
	announced func(id string) // a finished task's final status was acknowledged

	mu     sync.Mutex // guards urgent, queue and index
	urgent []Message
	queue  []Message      // retained
	index  map[string]int // retained topic → its position in queue
	wake   chan struct{}  // 1-buffered
}

func newPublisher(sess *session.Session, log *slog.Logger, announced func(string)) *publisher {
	return &publisher{sess: sess, log: log, announced: announced, index: map[string]int{}, wake: make(chan struct{}, 1)}
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

// statusShare is the part of each window kept for queued statuses, so a
// stream of replies and assignments cannot hold them back for good.
const statusShare = publishWindow / 4

// take removes up to publishWindow messages from the fronts of the
// queues, the urgent one's first, but statuses at least statusShare of
// them when that many are queued.
func (p *publisher) take() []Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := min(len(p.urgent), publishWindow-min(len(p.queue), statusShare))
	n := min(len(p.queue), publishWindow-u)
	out := make([]Message, 0, u+n)
	out = append(out, p.urgent[:u]...)
	out = append(out, p.queue[:n]...)
	p.urgent = append(p.urgent[:0], p.urgent[u:]...)
	if n > 0 {
		p.queue = append(p.queue[:0], p.queue[n:]...)
		clear(p.index)
		for i, m := range p.queue {
			p.index[m.Topic] = i
		}
	}
	return out
}

// retry puts failed retained messages back at the front, unless a newer
// one for the same topic is queued.
func (p *publisher) retry(ms []Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var keep []Message
	for _, m := range ms {
		if _, newer := p.index[m.Topic]; !newer {
			keep = append(keep, m)
		}
	}
	if len(keep) == 0 {
		return
	}
	p.queue = append(keep, p.queue...)
	clear(p.index)
	for i, m := range p.queue {
		if m.Retained {
			p.index[m.Topic] = i
		}
	}
}

func (p *publisher) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.urgent) + len(p.queue)
}

// run publishes until ctx ends. Once it has, a window's failures (queued
// again by retry) must not send it round again while the connection is
// still up.
func (p *publisher) run(ctx context.Context) {
	for ctx.Err() == nil {
		if p.pending() == 0 {
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
		p.publish(ctx, p.take())
	}
}

func (p *publisher) publish(ctx context.Context, ms []Message) {
	type sent struct {
		m   Message
		inf *session.Inflight
		err error
	}
	out := make([]sent, len(ms))
	for i, m := range ms {
		out[i].m = m
		out[i].inf, out[i].err = p.sess.PublishAsync(m.Message)
	}
	var failed []Message
	var firstErr error
	for _, s := range out {
		err := s.err
		if err == nil {
			err = s.inf.Wait(ctx)
		}
		switch {
		case err == nil:
			if s.m.Finished != "" {
				p.announced(s.m.Finished)
			}
		case s.m.Retained:
			failed = append(failed, s.m)
			if firstErr == nil {
				firstErr = err
			}
		default:
			p.log.Debug("message not published", "topic", s.m.Topic, "err", err)
		}
	}
	if len(failed) > 0 {
		p.log.Warn("task statuses not published: trying again on the next connection", "count", len(failed), "err", firstErr)
		p.retry(failed)
	}
}
