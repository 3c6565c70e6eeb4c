package uplink

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func add(t *testing.T, o *MemoryOutbox, kind Kind) Record {
	t.Helper()
	r, err := o.Add(context.Background(), kind, func(seq uint64) (string, []byte, error) {
		return "t", []byte(fmt.Sprint(seq)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func seqs(rs []Record) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}

func TestMemoryOutboxOrderAckAndBounds(t *testing.T) {
	o := NewMemoryOutbox(3)
	add(t, o, KindMetrics)   // 1
	add(t, o, KindTaskEvent) // 2
	add(t, o, KindMetrics)   // 3
	add(t, o, KindMetrics)   // 4: over the bound, the oldest metrics (1) goes
	got, _ := o.Pending(0, 10)
	if fmt.Sprint(seqs(got)) != "[2 3 4]" {
		t.Fatalf("pending %v, want [2 3 4]", seqs(got))
	}
	if got, _ := o.Pending(2, 1); fmt.Sprint(seqs(got)) != "[3]" {
		t.Fatalf("pending after 2, limit 1: %v", seqs(got))
	}
	if err := o.Ack(3); err != nil {
		t.Fatal(err)
	}
	if got, _ := o.Pending(0, 10); fmt.Sprint(seqs(got)) != "[4]" {
		t.Fatalf("after ack 3: %v", seqs(got))
	}
	if kept, dropped, over := o.Stats(); kept != 1 || dropped != 1 || over != 0 {
		t.Fatalf("stats %d %d %d", kept, dropped, over)
	}
	// Events are never dropped: with only events kept, the bound gives way.
	o2 := NewMemoryOutbox(1)
	add(t, o2, KindTaskEvent)
	add(t, o2, KindTaskEvent)
	if kept, dropped, over := o2.Stats(); kept != 2 || dropped != 0 || over != 1 {
		t.Fatalf("events only: stats %d %d %d", kept, dropped, over)
	}
}

func TestMemoryOutboxFailedBuildSpendsNoSeq(t *testing.T) {
	o := NewMemoryOutbox(0)
	add(t, o, KindMetrics)
	if _, err := o.Add(context.Background(), KindMetrics, func(uint64) (string, []byte, error) {
		return "", nil, errors.New("boom")
	}); err == nil {
		t.Fatal("a failing build was stored")
	}
	if r := add(t, o, KindMetrics); r.Seq != 2 {
		t.Fatalf("seq after a failed build = %d, want 2", r.Seq)
	}
}
