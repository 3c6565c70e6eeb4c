// Package loadgen is a fleet of simulated agents in one process, for load
// tests of a region: each node is a real MQTT 3.1.1 session over TCP with
// its own credentials, speaking the agent's protocol (pkg/protocol) — a
// retained birth with facts and task slots on every connect, a will, a
// goodbye on a graceful stop, change-only metrics and heartbeats with
// store headers and seq, kept in an outbox until the broker's PUBACK and
// sent again after a reconnect — and it answers rebirth commands.
//
// A Generator runs the phases of a load test: a connect storm (or a ramp),
// a steady state, a mass drop and reconnect, a second steady state, and a
// graceful stop of every node. A stream checker, a monitor reading
// tether/v1/<region>/#, and the scheduler's fleet rows it carries, tell
// whether every acknowledged message arrived: "lost" is a message the
// broker PUBACKed that never reached the monitor or the scheduler's view.
//
// Each node is one goroutine that reads its connection with a deadline set
// to its next duty and writes from the same goroutine; MQTT packets are
// encoded with mochi's packets package. That is what lets 10,000 sessions
// share one process on a small machine.
package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

// Generator runs a fleet of simulated nodes; see the package doc.
type Generator struct {
	opts   Options
	topics protocol.Topics
	addrs  []string // Options.addrs
	nodes  []*node
	own    map[string]bool // the nodes' ids: the monitor ignores other nodes of the region
	stats  stats
	wake   chan struct{} // closed at the graceful stop: wakes sleeping nodes
	enc    *encoder      // set by Run
}

type stats struct {
	connects, connectFailures, disconnects atomic.Int64
	online                                 atomic.Int64 // connections whose birth was acknowledged
	births                                 atomic.Int64 // births acknowledged, ever: online's increments
	made, acked, resent                    atomic.Int64
	rebirths, tasks, subRefused            atomic.Int64
	out                                    counter // bytes the nodes published
	nodeIn                                 counter // bytes the nodes received
}

// New validates opts and prepares the nodes.
func New(opts Options) (*Generator, error) {
	opts.ensureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	topics, _ := protocol.NewTopics(opts.Region)
	g := &Generator{opts: opts, topics: topics, addrs: opts.addrs(), own: map[string]bool{}, wake: make(chan struct{})}
	seed := rand.Uint64()
	for i, c := range opts.Nodes {
		n := newNode(g, c.User, c.Password, seed+uint64(i))
		n.broker = i % len(g.addrs)
		g.nodes = append(g.nodes, n)
		g.own[c.User] = true
	}
	return g, nil
}

// Online is how many nodes are connected now with their birth
// acknowledged by the broker; safe to call while Run runs.
func (g *Generator) Online() int { return int(g.stats.online.Load()) }

// Run runs every phase and returns what it measured. It returns an error
// only when the run could not be made (the monitor could not connect); a
// run that lost messages returns a Result that says so (Result.Lost).
func (g *Generator) Run(ctx context.Context) (Result, error) {
	o := &g.opts
	log := o.Logger
	res := Result{Sessions: len(g.nodes), Load: map[string]string{}}
	samp := newSampler(o.Watch)
	sctx, stopSampler := context.WithCancel(ctx)
	defer stopSampler()
	go samp.run(sctx)

	mon, err := startMonitor(ctx, g, o.Monitor.User, o.Monitor.Password)
	if err != nil {
		return res, err
	}
	monDone := make(chan error, 1)
	go func() {
		err := mon.run(ctx)
		if !mon.closed.Load() {
			log.Error("the monitor stopped before the run ended", "err", err)
		}
		monDone <- err
	}()
	defer func() { mon.close(); <-monDone }()

	ectx, stopEncoder := context.WithCancel(context.Background())
	defer stopEncoder() // after the nodes: deferred calls run last first
	g.enc = newEncoder(ectx, 2)
	nctx, cancelNodes := context.WithCancel(ctx)
	defer cancelNodes()
	var wg sync.WaitGroup
	t0 := time.Now()
	for _, n := range g.nodes {
		start := t0
		if o.Ramp > 0 {
			start = t0.Add(time.Duration(rand.Int64N(int64(o.Ramp))))
		}
		wg.Go(func() { n.run(nctx, start) })
	}

	// Connect storm.
	log.Info("connecting", "sessions", len(g.nodes), "ramp", o.Ramp)
	res.StormClient = g.waitFor(ctx, "every birth acknowledged", func() bool { return g.stats.online.Load() == int64(len(g.nodes)) })
	res.StormFleet = since(t0, g.waitFor(ctx, "every node online in the fleet rows", func() bool { return mon.fleetOnline() == len(g.nodes) }))
	res.Load["storm"] = loadAvg()
	log.Info("online", "births_acked_after", res.StormClient, "fleet_after", res.StormFleet, "load", res.Load["storm"])

	// Steady state.
	g.steady(ctx, mon, samp, &res)

	if o.Drop && ctx.Err() == nil {
		log.Info("mass drop", "sessions", len(g.nodes))
		td, b0 := time.Now(), g.stats.births.Load()
		for _, n := range g.nodes {
			n.drop()
		}
		// Reconnected: every node has had a new birth acknowledged (the
		// online count alone may not have dipped yet). By then the broker
		// has published every dropped connection's will; the rows are
		// all online again once the scheduler applied the births after
		// them. A node whose will and new birth fall between two of the
		// scheduler's publication passes never shows offline in its row.
		n := int64(len(g.nodes))
		res.DropClient = since(td, g.waitFor(ctx, "every node reconnected", func() bool {
			return g.stats.births.Load()-b0 >= n && g.stats.online.Load() == n
		}))
		res.DropFleet = since(td, g.waitFor(ctx, "every node online again in the fleet rows", func() bool { return mon.fleetOnline() == len(g.nodes) }))
		res.Load["drop"] = loadAvg()
		log.Info("reconnected", "births_acked_after", res.DropClient, "fleet_after", res.DropFleet, "load", res.Load["drop"])
		g.steadyAgain(ctx, samp, &res)
	}

	// Graceful stop.
	log.Info("stopping every node")
	close(g.wake)
	for _, n := range g.nodes {
		n.stop()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(o.Settle):
		cancelNodes()
		<-done
	}
	g.waitFor(ctx, "the views to settle", func() bool { return g.settled(mon) })
	g.account(mon, samp, &res)
	res.Load["end"] = loadAvg()
	return res, nil
}

// waitFor polls cond every 100 ms, up to Settle, and returns how long it
// took (Settle, with Timeouts counted, when it never held).
func (g *Generator) waitFor(ctx context.Context, what string, cond func() bool) time.Duration {
	t0 := time.Now()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		if time.Since(t0) > g.opts.Settle || ctx.Err() != nil {
			g.opts.Logger.Warn("gave up waiting", "for", what, "after", time.Since(t0).Round(time.Millisecond))
			return -time.Since(t0)
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return time.Since(t0)
}

// since is the time from t0 to now when wait succeeded, or wait (negative:
// it timed out).
func since(t0 time.Time, wait time.Duration) time.Duration {
	if wait < 0 {
		return wait
	}
	return time.Since(t0)
}

func (g *Generator) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// String names a duration that timed out.
func fmtWait(d time.Duration) string {
	if d < 0 {
		return fmt.Sprintf(">%.0fs", (-d).Seconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
