package loadgen

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/pkg/protocol"
)

// steady runs the first steady state and measures it: CPU per minute and
// RSS of the watched processes, the monitor's traffic, report lag, the
// fleet rows' freshness, retained completeness and `nodes` latency.
func (g *Generator) steady(ctx context.Context, mon *monitor, samp *sampler, res *Result) {
	o := &g.opts
	before := samp.read()
	rb, fb, t0 := mon.reportBytes.Load(), mon.fleetBytes.Load(), time.Now()
	mon.recordLags(true)
	// Midway, while the fleet is calm: a new monitor's retained statuses,
	// and the operator's view (at the start when the caller ends the
	// steady state: Until).
	if o.Until == nil {
		g.sleep(ctx, o.Steady/2)
	}
	res.Retained = g.retainedStatuses(ctx)
	if o.NodesCommand != nil {
		t := time.Now()
		if err := o.NodesCommand(ctx); err != nil {
			o.Logger.Warn("nodes command failed", "err", err)
			res.NodesLatency = -1
		} else {
			res.NodesLatency = time.Since(t)
		}
	}
	if o.Until != nil {
		select {
		case <-ctx.Done():
		case <-o.Until:
		}
	} else {
		g.sleep(ctx, o.Steady-time.Since(t0))
	}
	mon.recordLags(false)
	el := time.Since(t0)
	after := samp.read()
	res.Proc = map[string]ProcResult{}
	for name, a := range after {
		pr := ProcResult{SteadyRSS: a.rss}
		if b, ok := before[name]; ok {
			pr.CPUPerMin = time.Duration(float64(a.cpu-b.cpu) * float64(time.Minute) / float64(el))
		}
		res.Proc[name] = pr
	}
	res.MonitorBps = float64(mon.reportBytes.Load()-rb+mon.fleetBytes.Load()-fb) / el.Seconds()
	res.FleetBps = float64(mon.fleetBytes.Load()-fb) / el.Seconds()
	res.Lag = mon.lagPercentiles()
	res.Freshness = mon.freshness(time.Now())
	res.Load["steady"] = loadAvg()
	o.Logger.Info("steady state", "cpu_per_min", res.Proc, "monitor_Bps", int64(res.MonitorBps),
		"retained", res.Retained, "nodes_latency", res.NodesLatency, "load", res.Load["steady"])
}

// steadyAgain runs the second steady state, after the mass reconnect.
func (g *Generator) steadyAgain(ctx context.Context, samp *sampler, res *Result) {
	g.sleep(ctx, g.opts.Steady)
	samp.read()
}

// retainedStatuses connects a new monitor, subscribes to every node's
// status, and counts the retained ones it is sent (every node of the run
// has one: its birth), until none came for 3 s.
func (g *Generator) retainedStatuses(ctx context.Context) int {
	o := &g.opts
	w := g.dialChecker()
	if w == nil {
		return -1
	}
	defer w.close()
	if err := w.write(subscribePacket(1, g.topics.AllNodeStatus())); err != nil {
		return -1
	}
	seen := map[string]bool{}
	want := map[string]bool{}
	for _, n := range g.nodes {
		want[n.id] = true
	}
	end := time.Now().Add(o.Settle)
	for time.Now().Before(end) && ctx.Err() == nil {
		w.c.SetReadDeadline(time.Now().Add(3 * time.Second))
		pk, err := w.read()
		if err != nil {
			break
		}
		if pk.FixedHeader.Type != packets.Publish {
			continue
		}
		if pk.FixedHeader.Qos > 0 {
			w.write(pubackPacket(pk.PacketID))
		}
		if nt, err := protocol.ParseNodeTopic(pk.TopicName); err == nil && pk.FixedHeader.Retain && want[nt.Node] {
			seen[strings.Clone(nt.Node)] = true // the topic aliases the read buffer
		}
	}
	return len(seen)
}

// dialChecker connects a new clean session as the checker, to the first
// of the generator's addrs that takes it; nil when none did.
func (g *Generator) dialChecker() *wire {
	o := &g.opts
	for _, addr := range g.addrs {
		w, err := dialWire(addr, o.ConnectTimeout, nil)
		if err != nil {
			continue
		}
		if _, err := w.connect(o.Checker.User+"@loadgen-r"+hex16(uint64(time.Now().UnixNano()))[:8], o.Checker.User, o.Checker.Password,
			true, o.KeepAlive, nil, o.ConnectTimeout); err != nil {
			w.close()
			continue
		}
		return w
	}
	return nil
}

// settled reports whether the views agree with what the nodes know after
// the graceful stop: the fleet rows show every node that said goodbye
// offline and at its last acknowledged seq, and the monitor received every
// acknowledged seq.
func (g *Generator) settled(mon *monitor) bool {
	for _, n := range g.nodes {
		r, ok := mon.row(n.id)
		if !ok || r.Seq < n.acked.Load() || (n.goodbyeDone.Load() && r.Online) {
			return false
		}
		if mon.missingAcked(n) > 0 {
			return false
		}
	}
	return true
}

// account compares what the nodes had acknowledged with what the views
// hold.
func (g *Generator) account(mon *monitor, samp *sampler, res *Result) {
	for _, n := range g.nodes {
		r, ok := mon.row(n.id)
		res.Made += n.seq
		res.Acked += n.seq - uint64(len(n.outbox))
		res.Pending += uint64(len(n.outbox))
		res.LostMonitor += mon.missingAcked(n)
		if !ok {
			res.MissingRows++
			continue
		}
		res.Gaps += r.Gaps
		if a := n.acked.Load(); r.Seq < a {
			res.Behind += a - r.Seq
		}
		if n.goodbyeDone.Load() {
			res.Goodbyes++
			if r.Online {
				res.GoodbyesLost++
			}
		}
	}
	for name, peak := range samp.peaks() {
		pr := res.Proc[name]
		pr.PeakRSS = peak
		res.Proc[name] = pr
	}
	s := &g.stats
	res.Connects, res.ConnectFailures, res.Resent, res.Rebirths = s.connects.Load(), s.connectFailures.Load(), s.resent.Load(), s.rebirths.Load()
	res.BytesOut, res.BytesIn = s.out.load(), s.nodeIn.load()
	res.MonitorReconnects = mon.reconnects.Load()
}

// missingAcked counts n's acknowledged seqs the monitor never received.
// It reads n's outbox: call it once n's goroutine has ended.
func (m *monitor) missingAcked(n *node) uint64 {
	pending := map[uint64]bool{}
	for _, r := range n.outbox {
		pending[r.seq] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.seen[n.id]
	var lost uint64
	for seq := uint64(1); seq <= n.seq; seq++ {
		if !pending[seq] && (s == nil || !s.has(seq)) {
			lost++
		}
	}
	return lost
}

func (m *monitor) lagPercentiles() [3]time.Duration {
	m.mu.Lock()
	l := slices.Clone(m.lags)
	m.lags = nil
	m.mu.Unlock()
	if len(l) == 0 {
		return [3]time.Duration{}
	}
	slices.Sort(l)
	return [3]time.Duration{l[len(l)/2], l[len(l)*99/100], l[len(l)-1]}
}
