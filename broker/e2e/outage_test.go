package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// TestBrokerOutage cuts an agent reporting every second from the broker for
// a minute, then restores the link as a slow uplink (2 KB/s, a weak
// cellular link), and checks what the durable outbox promises. The soak
// (TETHER_SOAK, `make soak`) cuts it for ten minutes and restores it at
// 8 KB/s; TETHER_OUTAGE sets another outage, -short makes it 30 s. Both
// forms drain a backlog that takes far longer than the freshness bounds
// below (about 50 s short, 80 s soak), so one delivery lane would fail
// them:
//
//   - the backlog reaches the broker in sequence order (a monitor
//     subscribed throughout sees it), every record at least once;
//   - the scheduler's fleet view ends with no gap and nothing missing;
//   - live reports are not starved while the backlog drains: the
//     scheduler's view of the node is fresh (measured ≤ 5 s old) soon
//     after the reconnect, long before the backlog is through, and stays
//     within 10 s while it drains.
func TestBrokerOutage(t *testing.T) {
	t.Parallel()
	outage, rate := time.Minute, 2<<10
	switch {
	case soak():
		outage, rate = 10*time.Minute, 8<<10
	case testing.Short():
		outage = 30 * time.Second
	}
	if v := os.Getenv("TETHER_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("TETHER_OUTAGE=%q", v)
		}
		outage = d
	}
	const node = "pi-outage"

	s := newSite(t)
	s.startScheduler()
	link := newFlappingLink(t, fmt.Sprintf("127.0.0.1:%d", s.port), 1)
	link.upRate = rate

	// The monitor sees what the broker receives, in order.
	type arrival struct {
		seq uint64
		at  time.Time
	}
	var (
		mu       sync.Mutex
		arrivals []arrival
	)
	mon := connect(t, s, "monitor@outage", "monitor")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	topics, _ := protocol.NewTopics("default")
	if err := mon.Subscribe(ctx, topics.NodeMetrics(node), 1, func(m session.Message) {
		met, err := protocol.DecodeMetrics(m.Payload)
		if err != nil {
			t.Errorf("monitor: %v", err)
			return
		}
		mu.Lock()
		arrivals = append(arrivals, arrival{met.Seq, time.Now()})
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}

	a := s.startAgent(node, "--broker", link.url(), "--sample-interval", "1s", "--send-all")
	defer func() {
		a.signal(syscall.SIGTERM)
		_ = a.wait(t, 10*time.Second)
	}()
	s.waitFleet(15*time.Second, "agent reporting", func(n map[string]protocol.FleetNode) bool {
		return n[node].Online && n[node].Seq >= 3
	})

	link.setUp(false)
	cutAt := time.Now()
	s.waitFleet(30*time.Second, "agent offline", func(n map[string]protocol.FleetNode) bool { return !n[node].Online })
	time.Sleep(outage - time.Since(cutAt)) // kept: the outage's length is the condition under test
	mu.Lock()
	before := len(arrivals)
	lastBefore := arrivals[len(arrivals)-1].seq
	mu.Unlock()
	link.setUp(true)
	healAt := time.Now()
	t.Logf("link cut for %v; %d reports had arrived, the last seq %d", healAt.Sub(cutAt).Round(time.Second), before, lastBefore)

	// Drain: follow the fleet view until nothing is missing and the
	// agent's outbox is empty again.
	var (
		row        protocol.FleetNode
		onlineAt   time.Time // the agent's reconnect, as the scheduler saw it
		stalest    time.Duration
		firstFresh time.Duration // from onlineAt
	)
	// The agent's reconnect backoff is capped at a minute. A report is
	// ~950 bytes: 8 KB/s drains ten minutes of reports in about 80 s
	// beside the live ones, 2 KB/s one minute's in about 50 s.
	deadline := healAt.Add(3*time.Minute + outage/4)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("backlog not delivered %v after the link came back; last row %+v", time.Since(healAt), row)
		}
		f, err := s.nodes()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range f.Nodes {
			if n.Node == node {
				row = n
			}
		}
		if row.Online && onlineAt.IsZero() {
			onlineAt = time.Now()
		}
		if row.Online && !row.Measured.IsZero() {
			age := f.TS.Sub(row.Measured)
			if age <= 5*time.Second && firstFresh == 0 {
				firstFresh = time.Since(onlineAt)
			}
			if firstFresh > 0 && age > stalest {
				stalest = age
			}
		}
		if row.Online && row.Missing == 0 && row.Seq > lastBefore+uint64(outage/time.Second)-5 &&
			(row.Outbox == nil || row.Outbox.Pending <= 3) { // no outbox part: empty
			break
		}
		time.Sleep(500 * time.Millisecond) // kept: each look runs the CLI and samples the row's freshness
	}
	drained := time.Since(onlineAt)

	mu.Lock()
	got := slices.Clone(arrivals[before:])
	mu.Unlock()
	// The backlog is what the outbox held when the agent reconnected: a
	// contiguous run from lastBefore+1. The first arrival that skips ahead
	// is the first live report; live reports follow in order, interleaved
	// with the rest of the backlog.
	var (
		backlog, live []uint64
		seen          = map[uint64]bool{}
		dups          int
		firstLive     uint64
		next          = lastBefore + 1
	)
	for _, a := range got {
		if seen[a.seq] {
			dups++
			continue
		}
		seen[a.seq] = true
		switch {
		case firstLive == 0 && a.seq == next:
			backlog = append(backlog, a.seq)
			next++
		case firstLive == 0:
			firstLive = a.seq
			live = append(live, a.seq)
		case a.seq < firstLive:
			backlog = append(backlog, a.seq)
		default:
			live = append(live, a.seq)
		}
	}
	for seq := lastBefore + 1; seq <= row.Seq; seq++ {
		if !seen[seq] {
			t.Errorf("seq %d never reached the broker", seq)
		}
	}
	if !slices.IsSorted(backlog) {
		t.Errorf("backlog out of order: %v", backlog)
	}
	if !slices.IsSorted(live) {
		t.Errorf("live reports out of order: %v", live)
	}
	t.Logf("the agent reconnected %v after the link came back; backlog of %d reports drained %v after that over %d B/s; %d live reports meanwhile; %d redelivered; fleet: seq %d, gaps %d, missing %d, dups %d; the view was fresh %v after the reconnect and at most %v old after that",
		onlineAt.Sub(healAt).Round(100*time.Millisecond), len(backlog), time.Since(onlineAt).Round(time.Second), rate, len(live), dups, row.Seq, row.Gaps, row.Missing, row.Dups,
		firstFresh.Round(100*time.Millisecond), stalest.Round(100*time.Millisecond))
	if row.Gaps != 0 {
		t.Errorf("the scheduler counts %d gaps", row.Gaps)
	}
	if len(backlog) < int(outage/time.Second)*9/10 {
		t.Errorf("backlog of %d reports, want about %d (one a second)", len(backlog), int(outage/time.Second))
	}
	if firstFresh == 0 || firstFresh > drained/2+10*time.Second {
		t.Errorf("live reports starved: the view was fresh only %v after the reconnect (backlog drained in %v)", firstFresh, drained)
	}
	// A live report waits behind at most 8 backlog records (under a second
	// at 8 KB/s, under four at 2 KB/s), plus the 1 s sampling and the
	// fleet table's 1 s interval; one lane would leave the view as old as
	// the whole drain (50–80 s). 10 s leaves room for a loaded 2-core
	// machine.
	if stalest > 10*time.Second {
		t.Errorf("the node's view went %v stale while the backlog drained", stalest)
	}
}
