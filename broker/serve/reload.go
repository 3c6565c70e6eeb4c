package serve

import (
	"context"
	"runtime/debug"
	"strings"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/pkg/logging"
)

// reloader applies reloads (SIGHUP, systemctl reload). The embedded
// broker re-reads its credentials file and TLS files; the configuration
// is read again, and of what changed, log_level applies at once and every
// other key is named as waiting for a restart — so an operator knows
// whether the edit took effect. A configuration that does not load or
// validate changes nothing.
type reloader struct {
	cur config.Config // as running: the start's, with the live changes applied
	b   embedded      // nil with an external broker
	o   Options
}

func (r *reloader) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.o.Reload:
			r.reload()
		}
	}
}

func (r *reloader) reload() {
	log := r.o.Logger
	if r.b != nil {
		if err := r.b.Reload(); err != nil {
			log.Error("credentials not reloaded; the previous ones stay in force", "err", err)
		}
	}
	if r.o.ReloadConfig == nil {
		return
	}
	next, err := r.o.ReloadConfig()
	if err != nil {
		log.Error("configuration not reloaded; the running one stays in force", "err", err)
		return
	}
	var applied, restart []string
	for _, key := range config.Changed(r.cur, next) {
		if key == "log_level" && r.o.Level != nil && logging.SetLevel(r.o.Level, next.LogLevel) == nil {
			r.cur.LogLevel = next.LogLevel
			applied = append(applied, key)
			continue
		}
		if key == "gc_percent" {
			debug.SetGCPercent(next.GCPercent)
			r.cur.GCPercent = next.GCPercent
			applied = append(applied, key)
			continue
		}
		restart = append(restart, key)
	}
	if len(restart) > 0 {
		log.Warn("configuration changed where only a restart applies it (systemctl restart tether-broker); running without it",
			"keys", strings.Join(restart, ","))
	}
	log.Info("configuration reloaded", "applied", strings.Join(applied, ","), "awaiting_restart", len(restart))
}
