package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/tether-edge/tether/agent/collect"
	"github.com/tether-edge/tether/agent/config"
	"github.com/tether-edge/tether/agent/report"
	"github.com/tether-edge/tether/agent/runner"
	"github.com/tether-edge/tether/agent/store"
	"github.com/tether-edge/tether/agent/uplink"
	"github.com/tether-edge/tether/pkg/logging"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// run is the whole agent: configuration, collector, uplink, the report
// loop and the task runner. It returns nil after a clean shutdown (ctx ended).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.PrintVersion {
		_, err := fmt.Fprintln(stdout, version)
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	// The process's collector settings: the agent owns its process (main
	// calls run once). See docs/benchmarks.md for what they buy.
	debug.SetGCPercent(cfg.GCPercent)
	if cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	log, err := logging.New(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}

	col, err := collect.New(collect.Options{DataDir: cfg.DataDir, Logger: log.With("component", "collect")})
	if err != nil {
		return err
	}
	defer col.Close()
	facts, err := col.Facts(ctx)
	if err != nil {
		return fmt.Errorf("reading the device's facts: %w", err)
	}
	facts.AgentVersion, facts.Tier, facts.Labels = version, cfg.Tier, cfg.Labels
	facts.TaskSlots = cfg.Tasks.Slots
	if facts.TaskSlots == 0 {
		facts.TaskSlots = max(1, runtime.NumCPU()) // the runner's default
	}

	if cfg.NodeID == "" {
		id, err := collect.MachineIdentity(collect.Options{})
		if err != nil {
			return fmt.Errorf("no node_id configured and none can be derived (%w): set node_id or --node", err)
		}
		cfg.NodeID = config.DeriveNodeID(facts.Hostname, id.ID)
		log.Info("node id derived", "node", cfg.NodeID, "from", id.Source)
	}
	if cfg.PrintNodeID {
		_, err := fmt.Fprintln(stdout, cfg.NodeID)
		return err
	}
	if cfg.Username == "" {
		cfg.Username = cfg.NodeID
	}
	password, err := cfg.ResolvePassword()
	if err != nil {
		return err
	}
	tc, err := session.TLSConfig(cfg.TLS.CAFile, cfg.TLS.CertFile, cfg.TLS.KeyFile)
	if err != nil {
		return err
	}
	log = log.With("node", cfg.NodeID)

	dir := filepath.Join(cfg.DataDir, "store")
	st, rec, err := store.Open(dir, store.Options{Logger: log.With("component", "store"), BootID: facts.BootID,
		MaxOutboxBytes: cfg.Outbox.MaxBytes, MaxOutboxAge: cfg.Outbox.MaxAge,
		// A report comes at least every heartbeat: acknowledgements ride
		// on its commit rather than taking one of their own.
		AckInterval: 2 * cfg.Heartbeat})
	if err != nil {
		return fmt.Errorf("opening the store in %s: %w", dir, err)
	}
	defer st.Close()
	var recovery *protocol.Recovery
	if rec != nil {
		log.Error("the store was damaged and replaced by a fresh one: records it held are lost",
			"reason", rec.Reason, "moved_to", rec.MovedTo)
		recovery = &protocol.Recovery{At: rec.At, Reason: rec.Reason, MovedTo: rec.MovedTo}
	}
	stats := st.OutboxStats()
	log.Info("store opened", "dir", dir, "store_id", st.ID(), "last_seq", st.LastSeq(), "pending", stats.Count)

	var tasks *runner.Runner // made with the uplink's header; set before the uplink runs
	up, err := uplink.New(uplink.Options{
		Region: cfg.Region, Node: cfg.NodeID, Facts: facts, Heartbeat: cfg.Heartbeat, Logger: log,
		Outbox: uplink.StoreOutbox(st), StoreID: st.ID(), Recovery: recovery, OnTask: func(p []byte) { tasks.Submit(p) },
		Session: session.Options{Brokers: cfg.Brokers, Username: cfg.Username, Password: password, TLS: tc,
			KeepAlive: cfg.KeepAlive},
	})
	if err != nil {
		return err
	}
	if tasks, err = newRunner(cfg, st, up, log); err != nil {
		return err
	}
	log.Info("tether-agent starting", "version", version, "arch", facts.Arch, "model", facts.Model,
		"brokers", strings.Join(cfg.Brokers, ","), "region", cfg.Region, "go", runtime.Version())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := tasks.Run(ctx); err != nil {
			log.Error("task runner stopped: no tasks run until the agent restarts", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		reportLoop(ctx, col, report.NewFilter(thresholds(cfg)), up, cfg.SampleInterval, log)
	}()
	go func() {
		defer wg.Done()
		if err := st.Run(ctx); err != nil {
			log.Error("store maintenance stopped", "err", err)
		}
	}()
	started := time.Now()
	err = up.Run(ctx) // returns after the goodbye when ctx ends
	cancel()
	wg.Wait()
	c := up.Session().Counters()
	log.Info("tether-agent stopped", "uplink_sent_bytes", c.Sent.Load(), "uplink_received_bytes", c.Received.Load(),
		"ran_for_s", int(time.Since(started).Seconds()))
	return err
}

func thresholds(cfg config.Config) report.Thresholds {
	if cfg.SendAll {
		return report.SendEverything()
	}
	t := cfg.Thresholds
	t.Heartbeat = cfg.Heartbeat
	return t
}

// reportLoop samples every interval and publishes the samples the filter
// lets through. A tick that arrives while a publish is still waiting is
// skipped, not queued (time.Ticker drops ticks for slow receivers).
func reportLoop(ctx context.Context, col *collect.Collector, f *report.Filter, up *uplink.Uplink, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s, err := col.Sample(ctx)
		if err != nil {
			log.Warn("sample failed", "err", err)
			continue
		}
		now := time.Now()
		d := f.Decide(s, now)
		if !d.Send {
			continue
		}
		if err := up.PublishMetrics(ctx, s.Metrics(protocol.Header{}, d.Heartbeat)); err != nil {
			log.Debug("report not sent", "err", err)
			continue // not marked sent: the next sample tries again
		}
		f.Sent(s, now)
		log.Debug("report sent", "reason", d.Reason.String(), "heartbeat", d.Heartbeat,
			"uplink_sent_bytes", up.Session().Counters().Sent.Load())
	}
}
