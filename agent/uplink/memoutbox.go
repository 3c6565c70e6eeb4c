package uplink

import (
	"context"
	"errors"
	"sync"
)

// MemoryOutbox is an Outbox held in memory: it keeps reports made while the
// broker is unreachable and delivers them in order on reconnect, but loses
// them, and restarts its sequence, when the process ends. It is bounded:
// past MaxRecords the oldest metrics are dropped and counted. Events are
// never dropped; if only events remain, the bound is exceeded and the
// overflow counted.
//
// The agent's durable store (agent/store) is the Outbox that survives
// restarts and power cuts; MemoryOutbox serves where there is none.
type MemoryOutbox struct {
	max int

	mu      sync.Mutex // guards the fields below
	last    uint64
	recs    []memRecord // seq order
	dropped uint64
	over    uint64
}

type memRecord struct {
	Record
	kind Kind
}

var _ Outbox = (*MemoryOutbox)(nil)

// NewMemoryOutbox returns an outbox that keeps at most maxRecords records
// (1,000 when maxRecords ≤ 0: about 17 minutes of 1 s reports, ~500 KB).
func NewMemoryOutbox(maxRecords int) *MemoryOutbox {
	if maxRecords <= 0 {
		maxRecords = 1000
	}
	return &MemoryOutbox{max: maxRecords}
}

// Add implements Outbox. A failing build spends no sequence number.
func (o *MemoryOutbox) Add(_ context.Context, kind Kind, build func(seq uint64) (string, []byte, error)) (Record, error) {
	if build == nil {
		return Record{}, errors.New("outbox: nil build")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	topic, payload, err := build(o.last + 1)
	if err != nil {
		return Record{}, err
	}
	o.last++
	r := Record{Seq: o.last, Topic: topic, QoS: 1, Payload: payload}
	o.recs = append(o.recs, memRecord{r, kind})
	for len(o.recs) > o.max {
		i := 0
		for i < len(o.recs) && o.recs[i].kind != KindMetrics {
			i++
		}
		if i == len(o.recs) {
			o.over++
			break
		}
		o.recs = append(o.recs[:i], o.recs[i+1:]...)
		o.dropped++
	}
	return r, nil
}

// Pending implements Outbox.
func (o *MemoryOutbox) Pending(after uint64, limit int) ([]Record, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Record
	for _, r := range o.recs {
		if len(out) == limit {
			break
		}
		if r.Seq > after {
			out = append(out, r.Record)
		}
	}
	return out, nil
}

// Ack implements Outbox: it forgets seq and everything before it, since the
// broker acknowledges in order.
func (o *MemoryOutbox) Ack(seq uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := 0
	for i < len(o.recs) && o.recs[i].Seq <= seq {
		i++
	}
	o.recs = o.recs[i:]
	return nil
}

// LastSeq implements Outbox.
func (o *MemoryOutbox) LastSeq() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

// Stats returns how many records are kept, how many metrics were dropped
// for room, and how many times events alone exceeded the bound.
func (o *MemoryOutbox) Stats() (kept int, dropped, overflow uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.recs), o.dropped, o.over
}
