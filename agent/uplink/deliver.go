package uplink

import (
	"context"
	"errors"
	"time"

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
}

// window is how many records may await their PUBACK at once: enough to
// drain a ten-minute backlog of 1 s reports (600) in well under a second on
// a LAN, small enough to bound what a lost connection makes the agent send
// twice.
const window = 32

// deliver publishes the outbox in sequence order whenever the session is
// connected, keeping up to window records in flight, and acknowledges each
// record to the outbox after its PUBACK. A record whose PUBACK never came
// (the connection dropped) is sent again on the next connection: the
// scheduler drops the duplicate by seq. Live reports queue behind the
// backlog, which drains at the speed of the link.
func (u *Uplink) deliver(ctx context.Context) {
	type inflight struct {
		seq uint64
		f   *session.Inflight
	}
	var acked uint64 // highest seq acknowledged on any connection
	for ctx.Err() == nil {
		if err := u.sess.WaitConnected(ctx); err != nil {
			return
		}
		sent := acked // resend what the last connection did not acknowledge
		var queue []inflight
		for ctx.Err() == nil {
			if len(queue) < window {
				recs, err := u.outbox.Pending(sent, window-len(queue))
				if err != nil {
					u.log.Error("outbox unreadable", "err", err)
					sleep(ctx, time.Second)
					break
				}
				refused := false
				for _, r := range recs {
					f, err := u.sess.PublishAsync(session.Message{Topic: r.Topic, QoS: r.QoS, Retained: r.Retained, Payload: r.Payload})
					if err != nil {
						refused = true // the connection is gone
						break
					}
					queue = append(queue, inflight{r.Seq, f})
					sent = r.Seq
				}
				if refused && len(queue) == 0 {
					break // wait for the next connection
				}
			}
			if len(queue) == 0 {
				if !u.waitForWork(ctx) {
					break // disconnected: start over when connected
				}
				continue
			}
			if err := queue[0].f.Wait(ctx); err != nil {
				if !errors.Is(err, context.Canceled) {
					u.log.Debug("delivery interrupted; unacknowledged records go again", "from_seq", acked+1, "err", err)
				}
				break
			}
			if err := u.outbox.Ack(queue[0].seq); err != nil {
				u.log.Warn("outbox ack failed; the record may be sent twice", "seq", queue[0].seq, "err", err)
			}
			acked = queue[0].seq
			queue = queue[1:]
		}
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
