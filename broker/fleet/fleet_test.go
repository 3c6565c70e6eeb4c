package fleet

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

// clock is a test's two clocks: t is the monotonic clock's reading, as a
// time, and the wall clock reads t plus step, the steps NTP made.
type clock struct {
	t    time.Time
	step time.Duration
}

var epoch = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func (c *clock) now() time.Time           { return c.t.Add(c.step) }
func (c *clock) elapsed() time.Duration   { return c.t.Sub(epoch) }
func (c *clock) advance(d time.Duration)  { c.t = c.t.Add(d) }
func (c *clock) stepWall(d time.Duration) { c.step += d }

func newFleet() (*Fleet, *clock) {
	c := &clock{t: epoch}
	return New(Options{Now: c.now, Elapsed: c.elapsed, Grace: 5 * time.Second}), c
}

func hdr(node, inst string, seq uint64) protocol.Header {
	return protocol.Header{V: 1, Node: node, Instance: inst, Seq: seq, TS: time.Unix(0, 0)}
}

func birth(node, inst string, seq uint64) protocol.NodeStatus {
	return protocol.NodeStatus{Header: hdr(node, inst, seq), State: protocol.StateOnline, Conn: 1, HeartbeatS: 10,
		Facts: &protocol.Facts{Arch: "arm64", Cores: 4, Tier: protocol.TierEdge}}
}

func offline(node, inst string, seq uint64, reason string) protocol.NodeStatus {
	return protocol.NodeStatus{Header: hdr(node, inst, seq), State: protocol.StateOffline, Reason: reason, Conn: 1}
}

func metrics(node, inst string, seq uint64, cpu float64) protocol.Metrics {
	return protocol.Metrics{Header: hdr(node, inst, seq), CPU: protocol.CPU{Total: cpu}}
}

func mustGet(t *testing.T, f *Fleet, id string) Node {
	t.Helper()
	n, ok := f.Get(id)
	if !ok {
		t.Fatalf("node %s unknown", id)
	}
	return n
}

func TestBirthMetricsGoodbye(t *testing.T) {
	f, _ := newFleet()
	f.HandleStatus(birth("a", "i1", 1), false)
	if f.HandleMetrics(metrics("a", "i1", 2, 10)) != 0 {
		t.Fatal("rebirth asked although the birth was seen")
	}
	n := mustGet(t, f, "a")
	if !n.Online || n.Metrics.CPU.Total != 10 || n.Heartbeat != 10*time.Second {
		t.Fatalf("after birth+metrics: %+v", n)
	}
	f.HandleStatus(offline("a", "i1", 3, protocol.ReasonShutdown), false)
	if n := mustGet(t, f, "a"); n.Online || n.Reason != protocol.ReasonShutdown || n.Gaps != 0 {
		t.Fatalf("after goodbye: %+v", n)
	}
}

func TestWillOfCurrentConnectionOnly(t *testing.T) {
	f, _ := newFleet()
	f.HandleStatus(birth("a", "i1", 1), false)
	b2 := birth("a", "i1", 5) // reconnect of the same process
	b2.Conn = 2
	f.HandleStatus(b2, false)
	f.HandleStatus(offline("a", "i1", 1, protocol.ReasonLost), false) // the will of connection 1, late
	if !mustGet(t, f, "a").Online {
		t.Fatal("a will of an earlier connection took the node offline")
	}
	f.HandleStatus(offline("a", "old", 9, protocol.ReasonLost), false)
	if !mustGet(t, f, "a").Online {
		t.Fatal("a will of another instance took the node offline")
	}
	w2 := offline("a", "i1", 5, protocol.ReasonLost)
	w2.Conn = 2
	f.HandleStatus(w2, false)
	if n := mustGet(t, f, "a"); n.Online || n.Reason != protocol.ReasonLost {
		t.Fatalf("the will of the current connection did not apply: %+v", n)
	}
}

func TestSequenceGapsAndDuplicates(t *testing.T) {
	f, _ := newFleet()
	f.HandleStatus(birth("a", "i1", 1), false)
	f.HandleMetrics(metrics("a", "i1", 2, 10))
	f.HandleMetrics(metrics("a", "i1", 5, 20)) // 3 and 4 lost
	f.HandleMetrics(metrics("a", "i1", 5, 99)) // duplicate
	f.HandleMetrics(metrics("a", "i1", 4, 99)) // late
	n := mustGet(t, f, "a")
	if n.Gaps != 2 || n.Dups != 2 || n.Metrics.CPU.Total != 20 {
		t.Fatalf("gaps=%d dups=%d cpu=%v, want 2, 2, 20", n.Gaps, n.Dups, n.Metrics.CPU.Total)
	}
}

func TestRestartIsNotADuplicateButFlappingIs(t *testing.T) {
	f, c := newFleet()
	f.HandleStatus(birth("a", "i1", 1), false)
	c.advance(time.Second)
	if act := f.HandleStatus(birth("a", "i2", 1), false); act != 0 || mustGet(t, f, "a").Duplicate { // the agent restarted
		t.Fatalf("a restart was flagged as a duplicate (actions %v)", act)
	}
	c.advance(time.Second)
	if act := f.HandleStatus(birth("a", "i1", 7), false); act != WarnDuplicate { // the first one is back: two agents
		t.Fatalf("actions %v, want WarnDuplicate", act)
	}
	if !mustGet(t, f, "a").Duplicate {
		t.Fatal("two agents taking turns were not flagged")
	}
	if got := f.Instances("a"); len(got) != 2 || got[0] != "i1" || got[1] != "i2" {
		t.Fatalf("Instances = %v, want [i1 i2]", got)
	}
	c.advance(time.Second)
	if act := f.HandleStatus(birth("a", "i2", 3), false); act&WarnDuplicate != 0 {
		t.Fatalf("second notice within the limit: %v", act)
	}
	if got := f.Summary().Duplicates; len(got) != 1 || got[0] != "a" {
		t.Fatalf("summary duplicates = %v", got)
	}
	c.advance(11 * time.Minute)
	if mustGet(t, f, "a").Duplicate {
		t.Fatal("the duplicate flag outlived its window")
	}
}

func TestMetricsWithoutBirthAskForRebirthRateLimited(t *testing.T) {
	f, c := newFleet()
	if f.HandleMetrics(metrics("a", "i1", 40, 5))&AskRebirth == 0 {
		t.Fatal("no rebirth asked for a node whose birth was never seen")
	}
	if f.HandleMetrics(metrics("a", "i1", 41, 5)) != 0 {
		t.Fatal("rebirth asked twice within the limit")
	}
	c.advance(31 * time.Second)
	if f.HandleMetrics(metrics("a", "i1", 42, 5))&AskRebirth == 0 {
		t.Fatal("no second rebirth request after the limit")
	}
	f.HandleStatus(birth("a", "i1", 43), false)
	c.advance(31 * time.Second)
	if f.HandleMetrics(metrics("a", "i1", 44, 5)) != 0 {
		t.Fatal("rebirth asked after the birth arrived")
	}
	if n := mustGet(t, f, "a"); !n.Online || n.Facts == nil {
		t.Fatalf("%+v", n)
	}
}

func TestSweepOverdue(t *testing.T) {
	f, c := newFleet()
	f.HandleStatus(birth("a", "i1", 1), false) // heartbeat 10 s, grace 5 s
	c.advance(15 * time.Second)
	if gone := f.Sweep(); len(gone) != 0 {
		t.Fatalf("swept at exactly heartbeat+grace: %v", gone)
	}
	c.advance(time.Millisecond)
	if gone := f.Sweep(); len(gone) != 1 || gone[0] != "a" {
		t.Fatalf("Sweep = %v, want [a]", gone)
	}
	if n := mustGet(t, f, "a"); n.Online || n.Reason != "overdue" {
		t.Fatalf("%+v", n)
	}
	f.HandleMetrics(metrics("a", "i1", 2, 1))
	if !mustGet(t, f, "a").Online {
		t.Fatal("a report did not bring an overdue node back")
	}
}

func TestTableAndSummary(t *testing.T) {
	f, _ := newFleet()
	f.HandleStatus(birth("b", "i", 1), false)
	f.HandleStatus(birth("a", "j", 1), false)
	m := metrics("a", "j", 2, 33)
	m.Mem.Percent = 50
	m.TempC = map[string]float64{"x": 40, "y": 61}
	m.Throttle = &protocol.Throttle{Undervoltage: true}
	f.HandleMetrics(m)
	f.HandleStatus(offline("b", "i", 2, protocol.ReasonShutdown), false)
	f.Reject()
	tab := f.Table()
	if len(tab.Nodes) != 2 || tab.Nodes[0].Node != "a" || tab.Nodes[1].Node != "b" {
		t.Fatalf("rows %+v", tab.Nodes)
	}
	a := tab.Nodes[0]
	if *a.CPU != 33 || *a.MemPct != 50 || *a.TempC != 61 || !a.Throttled || a.Arch != "arm64" {
		t.Fatalf("row a %+v", a)
	}
	s := f.Summary()
	if s.Nodes != 2 || s.Online != 1 || s.Offline != 1 || s.Throttled != 1 || s.Rejected != 1 {
		t.Fatalf("summary %+v", s)
	}
}

func stored(h protocol.Header, store string) protocol.Header { h.Store = store; return h }

func TestSequenceFollowsTheStoreAcrossRestarts(t *testing.T) {
	f, _ := newFleet()
	b := birth("a", "i1", 1)
	b.Header = stored(b.Header, "S")
	f.HandleStatus(b, false)
	m := metrics("a", "i1", 2, 1)
	m.Header = stored(m.Header, "S")
	f.HandleMetrics(m)
	// The agent restarts: a new instance, the same store, seq goes on.
	b2 := birth("a", "i2", 3)
	b2.Header = stored(b2.Header, "S")
	f.HandleStatus(b2, false)
	// What the first process made and the new one delivers from the
	// outbox carries the first instance: it continues the sequence and is
	// no sign of a second agent.
	kept := metrics("a", "i1", 3, 7)
	kept.Header = stored(kept.Header, "S")
	f.HandleMetrics(kept)
	// A message the broker redelivers is a duplicate, whatever instance.
	old := metrics("a", "i1", 2, 99)
	old.Header = stored(old.Header, "S")
	f.HandleMetrics(old)
	n := mustGet(t, f, "a")
	if n.Gaps != 0 || n.Dups != 1 || n.Metrics.CPU.Total != 7 || n.Duplicate {
		t.Fatalf("gaps=%d dups=%d cpu=%v duplicate=%v, want 0, 1, 7, false", n.Gaps, n.Dups, n.Metrics.CPU.Total, n.Duplicate)
	}
	// A fresh store (the old one was damaged and replaced) starts over.
	b3 := birth("a", "i3", 0)
	b3.Header = stored(b3.Header, "T")
	f.HandleStatus(b3, false)
	m3 := metrics("a", "i3", 1, 5)
	m3.Header = stored(m3.Header, "T")
	f.HandleMetrics(m3)
	if n := mustGet(t, f, "a"); n.Dups != 1 || n.Gaps != 0 || n.LastSeq != 1 || n.Metrics.CPU.Total != 5 {
		t.Fatalf("after a new store: %+v", n)
	}
}

func TestBootClockPlacesMessagesOnTheSchedulersClock(t *testing.T) {
	f, c := newFleet()
	boot := c.t.Add(-time.Hour) // the node booted an hour ago, scheduler time
	wrong := time.Date(1970, 1, 1, 0, 5, 0, 0, time.UTC)
	msg := func(seq uint64, up time.Duration, delay time.Duration) protocol.Metrics {
		m := metrics("a", "i", seq, 1)
		m.Boot, m.UpMS, m.TS = "b1", uint64(up.Milliseconds()), wrong.Add(up)
		c.t = boot.Add(up + delay)
		return m
	}
	f.HandleMetrics(msg(1, time.Hour, 40*time.Millisecond))
	f.HandleMetrics(msg(2, time.Hour+time.Second, 5*time.Millisecond)) // the least delayed one wins
	n := mustGet(t, f, "a")
	wantAt := boot.Add(time.Hour + time.Second).Add(5 * time.Millisecond)
	if !n.Measured.Equal(wantAt) {
		t.Fatalf("measured %v, want %v", n.Measured, wantAt)
	}
	if skew := n.ClockSkew; skew > -50*365*24*time.Hour {
		t.Fatalf("clock skew %v: the 1970 clock was not noticed", skew)
	}
	// A redelivered message from an earlier boot is a duplicate by seq and
	// must not reset the estimate.
	old := metrics("a", "i", 1, 1)
	old.Boot, old.UpMS, old.TS = "b0", 1000, wrong
	f.HandleMetrics(old)
	f.HandleMetrics(msg(4, 2*time.Hour, 10*time.Millisecond))
	if got := mustGet(t, f, "a").Measured; !got.Equal(boot.Add(2 * time.Hour).Add(5 * time.Millisecond)) {
		t.Fatalf("after a redelivery from another boot: measured %v", got)
	}
	// The node reboots: a new boot id starts a new estimate.
	reboot := c.t.Add(time.Minute)
	m := metrics("a", "i2", 5, 1)
	m.Boot, m.UpMS, m.TS = "b2", 30000, wrong
	c.t = reboot.Add(30*time.Second + 2*time.Millisecond)
	f.HandleMetrics(m)
	if got := mustGet(t, f, "a").Measured; !got.Equal(c.t) {
		t.Fatalf("after a reboot: measured %v, want %v", got, c.t)
	}
}

// TestWallClockStepsMoveNoJudgement steps the scheduler's wall clock two
// hours forward, then back four, while a node reports every 5 s (heartbeat
// 10 s, grace 5 s): it is never declared overdue, its row's times follow
// the wall clock, and once it falls silent it is declared overdue after its
// heartbeat and grace on the monotonic clock, not after the step.
func TestWallClockStepsMoveNoJudgement(t *testing.T) {
	f, c := newFleet()
	boot := c.t.Add(-time.Hour)
	f.HandleStatus(birth("a", "i1", 1), false)
	seq := uint64(1)
	report := func() {
		seq++
		m := metrics("a", "i1", seq, 1)
		up := c.t.Add(-3 * time.Millisecond).Sub(boot) // 3 ms on the way
		m.Boot, m.UpMS, m.TS = "b1", uint64(up.Milliseconds()), c.now()
		f.HandleMetrics(m)
	}
	for i, step := range []time.Duration{0, 2 * time.Hour, -4 * time.Hour, 0} {
		c.stepWall(step)
		for range 6 {
			c.advance(5 * time.Second)
			report()
			if gone := f.Sweep(); len(gone) != 0 {
				t.Fatalf("phase %d (wall stepped %v): %v declared overdue", i, c.step, gone)
			}
			row := Row(mustGet(t, f, "a"))
			// Every report takes 3 ms: the estimate's error, so measured
			// is when it was received.
			if !row.LastSeen.Equal(c.now()) || !row.Measured.Equal(c.now()) {
				t.Fatalf("phase %d (wall stepped %v): last seen %v, measured %v; want both %v",
					i, c.step, row.LastSeen, row.Measured, c.now())
			}
			if row.ClockSkewMS != 0 {
				t.Fatalf("phase %d: clock skew %d ms between two clocks stepped together", i, row.ClockSkewMS)
			}
		}
	}
	// Silent from here; the wall clock steps back an hour meanwhile.
	c.advance(14 * time.Second)
	c.stepWall(-time.Hour)
	if gone := f.Sweep(); len(gone) != 0 {
		t.Fatalf("declared overdue 14 s into a 15 s allowance: %v", gone)
	}
	c.advance(2 * time.Second)
	if gone := f.Sweep(); len(gone) != 1 {
		t.Fatal("not declared overdue 16 s after its last report: the wall clock's step back held it online")
	}
}

func TestBirthReportsAStoreRecovery(t *testing.T) {
	f, c := newFleet()
	b := birth("a", "i", 0)
	b.Recovery = &protocol.Recovery{At: c.t.Add(-time.Second), Reason: "MANIFEST torn"}
	f.HandleStatus(b, false)
	row := f.Table().Nodes[0]
	if !row.StoreRecovered.Equal(c.t.Add(-time.Second)) {
		t.Fatalf("store_recovered = %v", row.StoreRecovered)
	}
}

func TestLiveBirthSeedsTheSequenceRetainedDoesNot(t *testing.T) {
	f, _ := newFleet()
	b := birth("a", "i1", 0)
	b.Store, b.From = "s1", 1
	f.HandleStatus(b, false)
	m := metrics("a", "i1", 2, 10) // report 1 was lost on its way
	m.Store, m.From = "s1", 2
	f.HandleMetrics(m)
	if n := mustGet(t, f, "a"); n.Gaps != 1 {
		t.Fatalf("gaps %d after a lost first report, want 1", n.Gaps)
	}
	// A retained birth may be hours old: it says nothing of the stream now.
	g, _ := newFleet()
	g.HandleStatus(b, true)
	m.Seq, m.From = 400, 400
	g.HandleMetrics(m)
	if n := mustGet(t, g, "a"); n.Gaps != 0 {
		t.Fatalf("gaps %d counted from a retained birth", n.Gaps)
	}
}

func TestHugeSeqStillAppliesReports(t *testing.T) {
	f, _ := newFleet()
	f.HandleStatus(birth("a", "i1", 1), false)
	f.HandleMetrics(metrics("a", "i1", 2, 10))
	f.HandleMetrics(metrics("a", "i1", ^uint64(0), 20))
	f.HandleMetrics(metrics("a", "i1", 3, 30))
	f.HandleMetrics(metrics("a", "i1", 4, 40))
	n := mustGet(t, f, "a")
	if n.Metrics.CPU.Total != 40 || n.LastSeq != 4 {
		t.Fatalf("cpu %v seq %d after 2^64-1: the stream is wedged", n.Metrics.CPU.Total, n.LastSeq)
	}
	if n.Gaps > 1<<33 || n.Dups != 0 {
		t.Fatalf("gaps %d dups %d", n.Gaps, n.Dups)
	}
}

// A sender cycling through instance ids grows neither the node's record
// nor the duplicate notice made from it.
func TestInstanceCyclingIsBounded(t *testing.T) {
	f, c := newFleet()
	for i := range 20000 {
		f.HandleStatus(birth("a", fmt.Sprintf("inst-%05d", i), 1), false)
		c.advance(time.Millisecond)
	}
	f.HandleStatus(birth("a", "inst-19995", 1), false) // an instance still remembered comes back
	inst := f.Instances("a")
	if len(inst) > 1+maxRetired {
		t.Fatalf("%d instances tracked for one node, bound %d", len(inst), 1+maxRetired)
	}
	b, err := json.Marshal(protocol.DuplicateNotice{V: protocol.Version, Node: "a", Instances: inst, TS: protocol.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protocol.DecodeDuplicateNotice(b); err != nil || len(b) > 1024 {
		t.Fatalf("duplicate notice of %d bytes: %v", len(b), err)
	}
	if !mustGet(t, f, "a").Duplicate {
		t.Fatal("a recent instance coming back is no longer flagged")
	}
}

// While the scheduler's own broker link is down, no node is overdue; after
// it comes back each node has a full heartbeat window and grace.
func TestSweepJudgesNoNodeWhileTheLinkIsDown(t *testing.T) {
	f, c := newFleet()
	f.LinkUp()
	f.HandleStatus(birth("a", "i1", 1), false) // heartbeat 10 s, grace 5 s
	f.LinkDown()
	c.advance(60 * time.Second)
	if gone := f.Sweep(); len(gone) != 0 {
		t.Fatalf("%v declared overdue while the scheduler itself was disconnected", gone)
	}
	f.LinkUp()
	c.advance(14 * time.Second)
	if gone := f.Sweep(); len(gone) != 0 {
		t.Fatalf("%v declared overdue %v after the scheduler reconnected, within a heartbeat window", gone, 14*time.Second)
	}
	c.advance(2 * time.Second)
	if gone := f.Sweep(); len(gone) != 1 || mustGet(t, f, "a").Online {
		t.Fatalf("a silent node not overdue a full window after the reconnect: %v", gone)
	}
}

// Each consumer drains the nodes changed since it last drained, once.
func TestDrainGivesEachChangeOnce(t *testing.T) {
	f, c := newFleet()
	f.HandleStatus(birth("a", "i1", 1), false)
	f.HandleStatus(birth("b", "i1", 1), false)
	drained := func(cons Consumer) []string {
		var ids []string
		f.Drain(cons, func(n Node) { ids = append(ids, n.ID) })
		sort.Strings(ids)
		return ids
	}
	if got := drained(ForView); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("first drain %v", got)
	}
	if got := drained(ForView); len(got) != 0 {
		t.Fatalf("nothing changed, drained %v", got)
	}
	f.HandleMetrics(metrics("a", "i1", 2, 10))
	if got := drained(ForView); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("after a's metrics %v", got)
	}
	if got := drained(ForTasks); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("the task engine's set lost changes another consumer drained: %v", got)
	}
	c.advance(time.Minute)
	f.Sweep()
	if got := drained(ForTasks); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("overdue nodes not marked changed: %v", got)
	}
	f.MarkAll(ForView)
	if got := drained(ForView); len(got) != 2 {
		t.Fatalf("MarkAll: %v", got)
	}
}

// A report is handled while a whole-fleet scan is in progress: the scan
// holds one shard at a time, never the whole fleet.
func TestIngestNeverWaitsForAScan(t *testing.T) {
	f, _ := newFleet()
	for i := range 1000 {
		f.HandleStatus(birth(fmt.Sprintf("n-%04d", i), "i1", 1), false)
	}
	inScan, release := make(chan string, 1), make(chan struct{})
	go f.each(func(_ *shard, n *Node) {
		select {
		case inScan <- n.ID:
			<-release // the scan stalls inside a shard
		default:
		}
	})
	held := <-inScan
	defer close(release)
	var other string
	for i := range 1000 {
		if id := fmt.Sprintf("n-%04d", i); f.shard(id) != f.shard(held) {
			other = id
			break
		}
	}
	done := make(chan struct{})
	go func() {
		f.HandleMetrics(metrics(other, "i1", 2, 10))
		f.Get(other)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a report waited for a scan of other nodes")
	}
}

// TestRowCarriesAgentVersion: the fleet row names the agent version from
// the node's birth, so an operator sees which nodes still run an old build.
func TestRowCarriesAgentVersion(t *testing.T) {
	f, _ := newFleet()
	b := birth("pi-a", "i1", 1)
	b.Facts.AgentVersion = "1.4.2"
	f.HandleStatus(b, false)
	rows := f.Table().Nodes
	if len(rows) != 1 || rows[0].Version != "1.4.2" {
		t.Fatalf("rows = %+v, want pi-a at version 1.4.2", rows)
	}
	if err := rows[0].Validate(); err != nil {
		t.Fatal(err)
	}
}

// A birth's health.disk_full shows in the node's row until a birth without
// it; an agent that started on a full disk has not opened its store, and
// its store-less birth leaves the node's sequence alone: what the store
// still held for the scheduler is awaited, not counted lost.
func TestDiskFullBirth(t *testing.T) {
	f, _ := newFleet()
	b := birth("a", "i1", 0)
	b.Header = stored(b.Header, "S")
	f.HandleStatus(b, false)
	m := metrics("a", "i1", 3, 1)
	m.Header = stored(m.Header, "S")
	m.From = 1 // 1 and 2 are on their way
	f.HandleMetrics(m)
	if n := mustGet(t, f, "a"); n.Missing != 2 || n.Gaps != 0 {
		t.Fatalf("missing %d gaps %d, want 2 and 0", n.Missing, n.Gaps)
	}
	// Restarted on a full disk: no store, seq 0.
	full := birth("a", "i2", 0)
	full.Health = &protocol.Health{DiskFull: true}
	f.HandleStatus(full, false)
	n := mustGet(t, f, "a")
	if !n.DiskFull || !Row(n).DiskFull || !n.Online {
		t.Fatalf("after a disk-full birth: disk full %v, row %+v", n.DiskFull, Row(n))
	}
	if n.Gaps != 0 || n.Missing != 2 {
		t.Fatalf("a store-less birth counted the store's backlog lost: gaps %d missing %d", n.Gaps, n.Missing)
	}
	// Space is back: the store opens and its backlog arrives.
	back := birth("a", "i2", 3)
	back.Header = stored(back.Header, "S")
	back.From = 1
	f.HandleStatus(back, false)
	for seq := uint64(1); seq <= 2; seq++ {
		m := metrics("a", "i1", seq, 1)
		m.Header = stored(m.Header, "S")
		m.From = 1
		f.HandleMetrics(m)
	}
	if n := mustGet(t, f, "a"); n.DiskFull || n.Gaps != 0 || n.Missing != 0 || n.LastSeq != 3 {
		t.Fatalf("after space came back: disk full %v gaps %d missing %d seq %d", n.DiskFull, n.Gaps, n.Missing, n.LastSeq)
	}
}

// withFrom is a report carrying the sender's From, from the agent's store.
func withFrom(m protocol.Metrics, from uint64) protocol.Metrics {
	m.Store, m.From = "s1", from
	return m
}

// A broker that acknowledged a report to the agent may redeliver it after
// newer ones (NATS, after its ack wait). Within the redelivery window the
// late copy is applied and no gap is counted; the window runs from the
// scheduler's link coming back, since no broker redelivers to a scheduler
// that is away.
func TestRedeliveryWindowRunsFromTheLinkComingBack(t *testing.T) {
	c := &clock{t: epoch}
	f := New(Options{Now: c.now, Elapsed: c.elapsed, Redelivery: 30 * time.Second})
	f.LinkUp()
	f.HandleMetrics(withFrom(metrics("a", "i1", 1, 1), 1))
	f.HandleMetrics(withFrom(metrics("a", "i1", 3, 3), 3)) // 2 acknowledged to the agent, delivery late
	if n := mustGet(t, f, "a"); n.Gaps != 0 || n.Missing != 1 {
		t.Fatalf("2 late: gaps %d missing %d, want 0 and 1", n.Gaps, n.Missing)
	}
	c.advance(20 * time.Second)
	f.LinkDown()
	c.advance(20 * time.Second)
	f.LinkUp()
	c.advance(25 * time.Second) // 65 s since 2 turned late, 25 s since the link came back
	f.Sweep()
	if n := mustGet(t, f, "a"); n.Gaps != 0 || n.Missing != 1 {
		t.Fatalf("window counted while the link was down: gaps %d missing %d", n.Gaps, n.Missing)
	}
	if f.HandleMetrics(withFrom(metrics("a", "i1", 2, 2), 3)); mustGet(t, f, "a").Missing != 0 {
		t.Fatal("late 2 within the window not taken")
	}
	if n := mustGet(t, f, "a"); n.Gaps != 0 || n.Dups != 0 || n.Metrics.CPU.Total != 3 {
		t.Fatalf("after late 2: gaps %d dups %d cpu %v, want 0, 0 and the newest report's 3", n.Gaps, n.Dups, n.Metrics.CPU.Total)
	}

	// A late report that never comes is a gap once the window passes,
	// counted by Sweep though the node sends nothing more.
	f.HandleMetrics(withFrom(metrics("a", "i1", 5, 5), 5))
	c.advance(29 * time.Second)
	f.Sweep()
	if n := mustGet(t, f, "a"); n.Gaps != 0 || n.Missing != 1 {
		t.Fatalf("4 within its window: gaps %d missing %d, want 0 and 1", n.Gaps, n.Missing)
	}
	f.Drain(ForView, func(Node) {})
	c.advance(time.Second)
	f.Sweep()
	if n := mustGet(t, f, "a"); n.Gaps != 1 || n.Missing != 0 {
		t.Fatalf("4 past its window: gaps %d missing %d, want 1 and 0", n.Gaps, n.Missing)
	}
	var touched []string
	f.Drain(ForView, func(n Node) { touched = append(touched, n.ID) })
	if !slices.Equal(touched, []string{"a"}) {
		t.Fatalf("the row whose late report expired is not republished: drained %v", touched)
	}
}

// A task event shares the node's sequence: one redelivered late is
// applied within the window (else the task's result is lost), and once.
func TestLateTaskEventIsAppliedWithinTheRedeliveryWindow(t *testing.T) {
	c := &clock{t: epoch}
	f := New(Options{Now: c.now, Elapsed: c.elapsed, Redelivery: 30 * time.Second})
	f.LinkUp()
	ev := func(seq, from uint64) protocol.Header {
		h := hdr("a", "i1", seq)
		h.Store, h.From = "s1", from
		return h
	}
	f.Accept(ev(1, 1))
	f.Accept(ev(3, 3))
	c.advance(10 * time.Second)
	if !f.Accept(ev(2, 3)) {
		t.Fatal("a task event redelivered 10 s late is refused: its result would be lost")
	}
	if f.Accept(ev(2, 3)) {
		t.Fatal("the same task event accepted twice")
	}
	if n := mustGet(t, f, "a"); n.Gaps != 0 || n.Missing != 0 || n.Dups != 1 {
		t.Fatalf("gaps %d missing %d dups %d, want 0, 0, 1", n.Gaps, n.Missing, n.Dups)
	}
}
