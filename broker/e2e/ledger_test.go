package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// commitLedger records, from outside the agent, what its store committed:
// the agent publishes a report only once its store made it durable, so
// every report a monitor sees is a committed record. A seq seen twice with
// different bytes is a seq the store handed out again after losing it; a
// second store id is a store moved aside (quarantined) and replaced.
type commitLedger struct {
	mu       sync.Mutex // guards the fields below
	payloads map[uint64][]byte
	stores   map[string]int // store id → reports seen
	max      uint64
	problems []string
}

func newCommitLedger() *commitLedger {
	return &commitLedger{payloads: map[uint64][]byte{}, stores: map[string]int{}}
}

// onMetrics is the monitor's handler for the node's metrics topic.
func (l *commitLedger) onMetrics(m session.Message) {
	r, err := protocol.DecodeMetrics(m.Payload)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.problems = append(l.problems, fmt.Sprintf("undecodable report on %s: %v", m.Topic, err))
		return
	}
	l.stores[r.Store]++
	if prev, ok := l.payloads[r.Seq]; ok && !bytes.Equal(prev, m.Payload) {
		l.problems = append(l.problems, fmt.Sprintf("seq %d reused: %q, then %q", r.Seq, prev, m.Payload))
		return
	}
	l.payloads[r.Seq] = bytes.Clone(m.Payload)
	l.max = max(l.max, r.Seq)
}

// highest returns the highest seq seen so far.
func (l *commitLedger) highest() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.max
}

// check returns what is wrong with the reports seen, given the store id
// and last seq the agent's final run opened with: one store only, no seq
// reused, and none seen beyond what the store still knows.
func (l *commitLedger) check(store string, last uint64) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string(nil), l.problems...)
	var ids []string
	for id := range l.stores {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) != 1 || ids[0] != store {
		out = append(out, fmt.Sprintf("reports came from stores %v, the final run opened %s: a store was moved aside", ids, store))
	}
	if l.max > last {
		out = append(out, fmt.Sprintf("seq %d was committed and seen, but the store reopened at last seq %d", l.max, last))
	}
	if len(l.payloads) == 0 {
		out = append(out, "no committed report was seen")
	}
	return out
}

// TestCommitLedgerCatches: the ledger the kill -9 torture checks with
// fails on a reused seq, on a second store and on a store that went back.
func TestCommitLedgerCatches(t *testing.T) {
	report := func(store string, seq uint64, node string) session.Message {
		h := protocol.Header{V: 1, Node: node, Instance: "i", Store: store, Seq: seq,
			TS: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
		p, err := json.Marshal(protocol.Metrics{Header: h})
		if err != nil {
			t.Fatal(err)
		}
		return session.Message{Topic: "tether/v1/default/nodes/" + node + "/metrics", Payload: p}
	}
	good := newCommitLedger()
	for seq := range uint64(5) {
		good.onMetrics(report("s1", seq+1, "n"))
		good.onMetrics(report("s1", seq+1, "n")) // a resend: the same bytes
	}
	if p := good.check("s1", 5); len(p) != 0 {
		t.Fatalf("a clean run: %v", p)
	}
	for name, c := range map[string]struct {
		msgs  []session.Message
		store string
		last  uint64
	}{
		"seq reused":  {[]session.Message{report("s1", 1, "n"), report("s1", 1, "m")}, "s1", 1},
		"quarantined": {[]session.Message{report("s1", 1, "n"), report("s2", 1, "n")}, "s2", 1},
		"went back":   {[]session.Message{report("s1", 1, "n"), report("s1", 2, "n")}, "s1", 1},
		"nothing":     {nil, "s1", 0},
	} {
		l := newCommitLedger()
		for _, m := range c.msgs {
			l.onMetrics(m)
		}
		if p := l.check(c.store, c.last); len(p) == 0 {
			t.Errorf("%s: the ledger found nothing wrong", name)
		}
	}
}
