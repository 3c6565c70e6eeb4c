package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-edge/tether/agent/collect"
	"github.com/tether-edge/tether/agent/config"
	"github.com/tether-edge/tether/agent/enrol"
	"github.com/tether-edge/tether/agent/report"
	"github.com/tether-edge/tether/agent/runner"
	"github.com/tether-edge/tether/agent/store"
	"github.com/tether-edge/tether/agent/uplink"
	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/cliconf"
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
	facts.TaskProgressS = int(cfg.Tasks.ProgressInterval / time.Second)

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
	tc, err := session.TLSConfig(cfg.TLS.CAFile, cfg.TLS.CertFile, cfg.TLS.KeyFile)
	if err != nil {
		return err
	}
	if cfg.Enrol.TokenFile != "" && cfg.Password == "" {
		if cfg.PasswordFile == "" {
			cfg.PasswordFile = filepath.Join(cfg.DataDir, "agent.pw")
		}
		if enrol.NeedsEnrolment(cfg.PasswordFile) {
			token, err := cliconf.ReadSecret(cfg.Enrol.TokenFile)
			if err != nil {
				return fmt.Errorf("enrol.token_file: %w", err)
			}
			log.Info("no credentials yet: enrolling with the site token", "node", cfg.NodeID, "token_file", cfg.Enrol.TokenFile)
			pw, err := enrol.Enrol(ctx, enrol.Options{Brokers: cfg.Brokers, TLS: tc, KeepAlive: cfg.KeepAlive,
				Region: cfg.Region, Node: cfg.NodeID, Token: token, Retry: cfg.Enrol.Retry, Logger: log})
			if err != nil {
				return fmt.Errorf("enrolment: %w", err)
			}
			if err := enrol.WriteSecret(cfg.PasswordFile, pw); err != nil {
				return err
			}
		}
	}
	password, err := cfg.ResolvePassword()
	if err != nil {
		return err
	}
	log = log.With("node", cfg.NodeID)

	dir := filepath.Join(cfg.DataDir, "store")
	sopts := store.Options{Logger: log.With("component", "store"), BootID: facts.BootID,
		MaxOutboxBytes: cfg.Outbox.MaxBytes, MaxOutboxAge: cfg.Outbox.MaxAge,
		// A report comes at least every heartbeat: acknowledgements ride
		// on its commit rather than taking one of their own.
		AckInterval: 2 * cfg.Heartbeat}
	var (
		st    atomic.Pointer[store.Store]
		tasks atomic.Pointer[runner.Runner] // set once the store is open
		blobs atomic.Pointer[blob.Endpoint] // set once the blob store is open
	)
	dropped := slog.New(logging.NewRateLimited(log.Handler(), logging.RateLimit{}))
	uo := uplink.Options{
		Region: cfg.Region, Node: cfg.NodeID, Facts: facts, Heartbeat: cfg.Heartbeat, Logger: log,
		Outbox: uplink.NoStore(),
		OnTask: func(p []byte) {
			if r := tasks.Load(); r != nil {
				r.Submit(p)
				return
			}
			dropped.Warn("task command not taken: the store is not open (disk full)")
		},
		OnBlob: func(p []byte) {
			if e := blobs.Load(); e != nil {
				e.Handle("", p)
			}
		},
		// The disk is full while the store is not open: the agent waits
		// for room before opening it.
		Health: func() protocol.Health {
			s := st.Load()
			return protocol.Health{DiskFull: s == nil || s.DiskFull()}
		},
		Session: session.Options{Brokers: cfg.Brokers, Username: cfg.Username, Password: password, TLS: tc,
			KeepAlive: cfg.KeepAlive},
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		up     *uplink.Uplink
		upDone chan error // up.Run's result, once it runs
	)
	runUplink := func() {
		upDone = make(chan error, 1)
		go func() { upDone <- up.Run(ctx) }() // returns after the goodbye when ctx ends
	}
	if free, room, err := store.RoomToOpen(dir, sopts); err != nil {
		log.Warn("free disk space unknown", "dir", dir, "err", err)
	} else if !room {
		// Opening writes, some of it through mmaps (SIGBUS on a full
		// disk): the agent reports, without its store, until there is room.
		log.Error("disk full: the store is not opened until space is freed; no metrics or tasks until then",
			"dir", dir, "free_bytes", free)
		if up, err = uplink.New(uo); err != nil {
			return err
		}
		runUplink()
		if !waitForRoom(ctx, dir, sopts) {
			cancel()
			return <-upDone
		}
		log.Info("disk space is back: opening the store")
	}
	opened, rec, err := store.Open(dir, sopts)
	if err != nil {
		if upDone != nil {
			cancel()
			<-upDone
		}
		return fmt.Errorf("opening the store in %s: %w", dir, err)
	}
	defer opened.Close()
	var recovery *protocol.Recovery
	if rec != nil {
		log.Error("the store was damaged and replaced by a fresh one: records it held are lost",
			"reason", rec.Reason, "moved_to", rec.MovedTo)
		recovery = &protocol.Recovery{At: rec.At, Reason: rec.Reason, MovedTo: rec.MovedTo}
	}
	stats := opened.OutboxStats()
	log.Info("store opened", "dir", dir, "store_id", opened.ID(), "last_seq", opened.LastSeq(), "pending", stats.Count)
	st.Store(opened)

	if up == nil {
		uo.Outbox, uo.StoreID, uo.Recovery = uplink.StoreOutbox(opened), opened.ID(), recovery
		if up, err = uplink.New(uo); err != nil {
			return err
		}
	}
	bs, err := openBlobs(cfg, log)
	if err != nil {
		cancel()
		if upDone != nil {
			<-upDone
		}
		return err
	}
	defer bs.Close()
	be, err := newBlobEndpoint(cfg, bs, up.Session(), log)
	if err != nil {
		cancel()
		if upDone != nil {
			<-upDone
		}
		return err
	}
	blobs.Store(be)
	r, err := newRunner(cfg, opened, up, taskBlobs{store: bs, ep: be, log: log.With("component", "blobs")}, log)
	if err != nil {
		cancel()
		if upDone != nil {
			<-upDone
		}
		return err
	}
	tasks.Store(r)
	if upDone != nil {
		up.Attach(uplink.StoreOutbox(opened), opened.ID(), recovery)
	}
	log.Info("tether-agent starting", "version", version, "arch", facts.Arch, "model", facts.Model,
		"brokers", strings.Join(cfg.Brokers, ","), "region", cfg.Region, "go", runtime.Version())

	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		runBlobs(ctx, be, log)
	}()
	go func() {
		defer wg.Done()
		if err := r.Run(ctx); err != nil {
			log.Error("task runner stopped: no tasks run until the agent restarts", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		reportLoop(ctx, col, report.NewFilter(thresholds(cfg)), up, cfg.SampleInterval, log)
	}()
	var wedged error // set before cancel, read after wg.Wait
	go func() {
		defer wg.Done()
		err := opened.Run(ctx)
		switch {
		case errors.Is(err, store.ErrWedged):
			// Only a new open takes writes again; the restart (systemd's
			// Restart=always) waits for room before it opens the store.
			log.Error("the disk filled under the store, which takes no more writes: the agent stops so that its restart opens it again once there is room", "err", err)
			wedged = err
			cancel()
		case err != nil:
			log.Error("store maintenance stopped", "err", err)
		}
	}()
	started := time.Now()
	if upDone == nil {
		runUplink()
	}
	err = <-upDone
	cancel()
	wg.Wait()
	if wedged != nil {
		err = fmt.Errorf("store: %w", wedged)
	}
	c := up.Session().Counters()
	log.Info("tether-agent stopped", "uplink_sent_bytes", c.Sent.Load(), "uplink_received_bytes", c.Received.Load(),
		"stale_epoch_assignments", r.StaleEpochs(), "ran_for_s", int(time.Since(started).Seconds()))
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

// waitForRoom looks at the free space every second until the store has
// room to open (true) or ctx ends (false).
func waitForRoom(ctx context.Context, dir string, o store.Options) bool {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		if _, room, err := store.RoomToOpen(dir, o); err == nil && room {
			return true
		}
	}
}
