package main

import (
	"log/slog"
	"time"

	"github.com/tether-edge/tether/agent/config"
	"github.com/tether-edge/tether/agent/runner"
	"github.com/tether-edge/tether/agent/store"
	"github.com/tether-edge/tether/agent/uplink"
	"github.com/tether-edge/tether/pkg/blob"
)

// newRunner makes the task runner from the tasks section of cfg; its
// events go out through up.
func newRunner(cfg config.Config, st *store.Store, up *uplink.Uplink, blobs taskBlobs, log *slog.Logger) (*runner.Runner, error) {
	keys, err := config.ParseSchedulerKeys(cfg.Tasks.SchedulerKeys)
	if err != nil {
		return nil, err // Validate has said so already
	}
	if len(keys) == 0 {
		log.Warn("no scheduler keys pinned (tasks.scheduler_keys): every task assignment will be refused")
	}
	t := cfg.Tasks
	// In the config 0 means none, or at once; in runner.Options zero is
	// the default and a negative value means none.
	if t.CheckpointLimit == 0 {
		t.CheckpointLimit = -1
	}
	if t.OutputTail == 0 {
		t.OutputTail = -1
	}
	if t.KillGrace == 0 {
		t.KillGrace = -time.Nanosecond
	}
	return runner.New(runner.Options{
		Node: cfg.NodeID, Region: cfg.Region, Store: st, Blobs: blobs, Keys: keys, Slots: t.Slots, Allow: t.Allow,
		Workdir: cfg.TaskWorkdir(), CheckpointLimit: t.CheckpointLimit, OutputTail: t.OutputTail,
		KillGrace: t.KillGrace, ProgressInterval: t.ProgressInterval, Header: up.Header, Notify: up.Notify, Logger: log.With("component", "runner"),
		CollectBlobs: collectBlobs(blobs.store, cfg.Blobs.Keep, log.With("component", "blobs")),
	})
}

// collectBlobs returns the runner's CollectBlobs for bs: a blob no task
// in the journal claims goes once its file is older than keep (an input
// an earlier task fetched, an output the scheduler has fetched by then,
// data another task put there). Nil with keep 0: nothing is collected.
func collectBlobs(bs *blob.Store, keep time.Duration, log *slog.Logger) func(func(blob.ID) bool) {
	if keep <= 0 || bs == nil {
		return nil
	}
	return func(claimed func(blob.ID) bool) {
		n, freed, err := bs.GCBefore(claimed, time.Now().Add(-keep))
		if err != nil {
			log.Warn("blob store collection stopped", "deleted", n, "freed_bytes", freed, "err", err)
			return
		}
		if n > 0 {
			used, quota := bs.Usage()
			log.Info("blob store collected", "deleted", n, "freed_bytes", freed, "used_bytes", used, "quota_bytes", quota)
		}
	}
}
