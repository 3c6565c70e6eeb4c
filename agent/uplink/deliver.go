package uplink

import (
	"context"
	"errors"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// Kind says what an outbox record carries; the outbox may downsample or
// drop metrics when full, never events.
type Kind uint8

const (
	KindMetrics Kind = iota + 1
	KindTaskEvent
)

// Record is a message kept in the outbox until the broker acknowledged it.
type Record struct {
	Seq      uint64
	Topic    string
	QoS      byte
	Retained bool
	Payload  []byte
}

// Outbox is the durable, ordered queue every counted message goes through
// (StoreOutbox: the agent's store). The sequence number is made by the
// outbox, so it survives restarts and power cuts and is never reused.
type Outbox interface {
	// Add takes the next sequence number, builds the message with it, and
	// returns once the record is durable.
	Add(ctx context.Context, kind Kind, build func(seq uint64) (topic string, payload []byte, err error)) (Record, error)
	// Pending returns up to limit records with seq > after, oldest first.
	Pending(after uint64, limit int) ([]Record, error)
	// Ack removes a record the broker acknowledged.
	Ack(seq uint64) error
	// LastSeq is the last sequence number made (0 before the first).
	LastSeq() uint64
	// PendingFrom is the oldest seq still held, or the next one to be
	// made when none is (protocol.Header.From).
	PendingFrom() uint64
}

// outboxReporter is an Outbox that can describe itself for reports.
type outboxReporter interface {
	Report() protocol.Outbox
}

// window is how many records may await their PUBACK at once: enough to
// drain a ten-minute backlog of 1 s reports (600) in well under a second on
// a LAN, small enough to bound what a lost connection makes the agent send
// twice. backlogWindow is the part of it the backlog may use: a live record
// waits behind at most that many backlog records on the wire (8 reports,
// ~6 KB: three seconds on a 2 KB/s cellular link), however long the
// backlog.
const (
	window        = 32
	backlogWindow = 8
)

// deliver publishes the outbox whenever the session is connected and
// acknowledges each record to the outbox after its PUBACK. A record whose
// PUBACK never came (the connection dropped) is sent again on the next
// connection: the scheduler drops the duplicate by seq.
//
// Two lanes share a connection. The backlog — what the outbox held when
// the connection came up — goes out oldest first with up to backlogWindow
// records in flight; live records, made while connected, go out as soon as
// they are made, ahead of the rest of the backlog, so the scheduler's view
// is current while a long backlog drains over a slow link. Each lane is in
// seq order; the messages' From (protocol.Header) lets the scheduler tell
// the backlog still on its way from a gap.
func (u *Uplink) deliver(ctx context.Context) {
	select { // nothing to deliver before the store is open
	case <-u.ready:
	case <-ctx.Done():
		return
	}
	for ctx.Err() == nil {
		if err := u.sess.WaitConnected(ctx); err != nil {
			return
		}
		u.deliverConnection(ctx)
	}
}

// deliverConnection delivers until the connection ends or ctx does.
func (u *Uplink) deliverConnection(ctx context.Context) {
	type inflight struct {
		seq     uint64
		backlog bool
		f       *session.Inflight
		due     time.Time
	}
	var (
		ob       = u.box.Load().ob
		cut      = ob.LastSeq() // records up to cut are the backlog
		backSent uint64         // backlog: highest seq handed over
		liveSent = cut          // live lane: highest seq handed over
		backDone bool
		queue    []inflight
		inBack   int // backlog records in queue
	)
	timeout := u.opts.Session.OpTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	publish := func(r Record, backlog bool) bool {
		f, err := u.sess.PublishAsync(session.Message{Topic: r.Topic, QoS: r.QoS, Retained: r.Retained, Payload: r.Payload})
		if err != nil {
			return false // the connection is gone
		}
		queue = append(queue, inflight{r.Seq, backlog, f, time.Now().Add(timeout)})
		if backlog {
			inBack++
		}
		return true
	}
	for ctx.Err() == nil {
		// Live records first, then the backlog with what its window allows.
		if n := window - len(queue); n > 0 {
			recs, err := ob.Pending(liveSent, n)
			if err != nil {
				u.log.Error("outbox unreadable", "err", err)
				sleep(ctx, time.Second)
				return
			}
			for _, r := range recs {
				if !publish(r, false) {
					return
				}
				liveSent = r.Seq
			}
		}
		// A record up to cut may still be committing (its seq is taken
		// before it is durable), so an empty answer does not end the
		// backlog: a record past cut does.
		if n := min(window-len(queue), backlogWindow-inBack); !backDone && backSent < cut && n > 0 {
			recs, err := ob.Pending(backSent, n)
			if err != nil {
				u.log.Error("outbox unreadable", "err", err)
				sleep(ctx, time.Second)
				return
			}
			for _, r := range recs {
				if r.Seq > cut {
					backDone = true
					break
				}
				if !publish(r, true) {
					return
				}
				backSent = r.Seq
			}
		}
		if len(queue) == 0 {
			if !u.waitForWork(ctx) {
				return // disconnected: start over when connected
			}
			continue
		}
		head := queue[0]
		t := time.NewTimer(time.Until(head.due))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-u.added: // a live record: send it now, ahead of the backlog
			t.Stop()
			continue
		case <-head.f.Done():
		case <-head.f.Lost():
		case <-t.C:
			// No PUBACK within OpTimeout: start over, sending again what
			// was not acknowledged.
			u.log.Debug("no acknowledgement in time; unacknowledged records go again", "seq", head.seq)
			return
		}
		t.Stop()
		if err := head.f.Wait(ctx); err != nil {
			if !errors.Is(err, context.Canceled) {
				u.log.Debug("delivery interrupted; unacknowledged records go again", "seq", head.seq, "err", err)
			}
			return
		}
		if err := ob.Ack(head.seq); err != nil {
			u.log.Warn("outbox ack failed; the record may be sent twice", "seq", head.seq, "err", err)
		}
		if head.backlog {
			inBack--
		}
		queue = queue[1:]
	}
}

// waitForWork blocks until a record is added or a second passed while
// connected (true: look at the outbox again), or the session dropped or
// ctx ended (false).
func (u *Uplink) waitForWork(ctx context.Context) bool {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-u.added:
		return true
	case <-t.C:
		return u.sess.Connected()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
