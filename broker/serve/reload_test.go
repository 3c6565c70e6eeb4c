package serve

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/pkg/logging"
)

// TestReloadAppliesGCPercent: a reload applies gc_percent to the running
// collector and says so. Not parallel: the percent is the process's.
func TestReloadAppliesGCPercent(t *testing.T) {
	before := debug.SetGCPercent(50)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	var buf bytes.Buffer
	log, level, err := logging.NewVar(&buf, "info", "text")
	if err != nil {
		t.Fatal(err)
	}
	next := config.Default()
	next.GCPercent = 70
	r := &reloader{cur: config.Default(), o: Options{Logger: log, Level: level,
		Reload: make(chan os.Signal), ReloadConfig: func() (config.Config, error) { return next, nil }}}
	r.reload()
	if got := debug.SetGCPercent(before); got != 70 {
		t.Errorf("collector's percent after reloading gc_percent 70: %d", got)
	}
	if out := buf.String(); !strings.Contains(out, "applied=gc_percent") || strings.Contains(out, "awaiting_restart=1") {
		t.Errorf("reload log:\n%s", out)
	}
}

// TestReloadAppliesLogLevel: a reload applies log_level to the running
// logger, names every other changed key as awaiting a restart (again at
// the next reload, until one), and keeps everything when the
// configuration does not load.
func TestReloadAppliesLogLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, level, err := logging.NewVar(&buf, "info", "text")
	if err != nil {
		t.Fatal(err)
	}
	next := config.Default()
	var loadErr error
	r := &reloader{cur: config.Default(), o: Options{Logger: log, Level: level,
		Reload:       make(chan os.Signal),
		ReloadConfig: func() (config.Config, error) { return next, loadErr }}}

	next.LogLevel = "debug"
	next.Tasks.ProgressTimeout *= 2
	r.reload()
	if level.Level() != slog.LevelDebug {
		t.Fatalf("level %v after reloading log_level: debug", level.Level())
	}
	out := buf.String()
	if !strings.Contains(out, "keys=tasks.progress_timeout") || !strings.Contains(out, "applied=log_level") {
		t.Fatalf("reload log:\n%s", out)
	}
	buf.Reset()
	r.reload()
	if out := buf.String(); !strings.Contains(out, "keys=tasks.progress_timeout") || strings.Contains(out, "applied=log_level") {
		t.Fatalf("second reload: the pending key must be named again, log_level not applied again:\n%s", out)
	}
	buf.Reset()
	loadErr = errors.New("fleet_interval: no unit")
	next.LogLevel = "error"
	r.reload()
	if level.Level() != slog.LevelDebug || !strings.Contains(buf.String(), "configuration not reloaded") {
		t.Fatalf("a configuration that does not load changed the level to %v:\n%s", level.Level(), buf.String())
	}
}
