package uplink

import (
	"context"

	"github.com/tether-edge/tether/agent/store"
	"github.com/tether-edge/tether/pkg/protocol"
)

// StoreOutbox is the agent's durable store as the uplink's Outbox: records
// survive restarts and power cuts, and sequence numbers are never reused.
func StoreOutbox(s *store.Store) Outbox { return storeOutbox{s} }

type storeOutbox struct{ s *store.Store }

func (o storeOutbox) Add(ctx context.Context, kind Kind, build func(uint64) (string, []byte, error)) (Record, error) {
	k := store.KindMetrics
	if kind == KindTaskEvent {
		k = store.KindTaskEvent
	}
	r, err := o.s.Append(ctx, k, build)
	return fromStore(r), err
}

func (o storeOutbox) Pending(after uint64, limit int) ([]Record, error) {
	rs, err := o.s.Pending(after, limit)
	out := make([]Record, len(rs))
	for i, r := range rs {
		out[i] = fromStore(r)
	}
	return out, err
}

func (o storeOutbox) Ack(seq uint64) error { return o.s.Ack(seq) }
func (o storeOutbox) LastSeq() uint64      { return o.s.LastSeq() }
func (o storeOutbox) PendingFrom() uint64  { return o.s.PendingFrom() }

func (o storeOutbox) Report() protocol.Outbox {
	st := o.s.OutboxStats()
	return protocol.Outbox{Pending: st.Count, Bytes: st.Bytes, Dropped: st.DroppedMetrics,
		Downsampled: st.Downsampled, Corrupt: st.Corrupt}
}

func fromStore(r store.Record) Record {
	return Record{Seq: r.Seq, Topic: r.Topic, QoS: r.QoS, Retained: r.Retained, Payload: r.Payload}
}
