package kv

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// badgerLogger adapts an slog.Logger to Badger's Logger. Badger's INFO
// messages ("All 3 tables opened", "Set nextTxnTs", the level summary on
// close) are routine for Tether and go to Debug; its own DEBUG messages are
// per-write chatter and are dropped.
type badgerLogger struct{ log *slog.Logger }

func newBadgerLogger(log *slog.Logger) badgerLogger {
	return badgerLogger{log: log.With("component", "badger")}
}

func (l badgerLogger) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args) }

func (l badgerLogger) Warningf(format string, args ...any) { l.logf(slog.LevelWarn, format, args) }

func (l badgerLogger) Infof(format string, args ...any) { l.logf(slog.LevelDebug, format, args) }

func (l badgerLogger) Debugf(string, ...any) {}

func (l badgerLogger) logf(level slog.Level, format string, args []any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	l.log.Log(context.Background(), level, msg)
}
