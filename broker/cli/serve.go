package cli

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/serve"
	"github.com/tether-edge/tether/pkg/logging"
)

// errServe32 refuses `serve` in a 32-bit process: the scheduler's task
// store (the server profile of pkg/kv) maps more than a 32-bit process can
// address, and the profile that fits (the agent's) is not sized or tested
// for a region's tasks. The agent runs on every 32-bit board.
var errServe32 = errors.New("tether-broker serve needs a 64-bit system: the scheduler's task store maps more than a 32-bit process can address. " +
	"On a Raspberry Pi, install 64-bit Raspberry Pi OS (arm64; Pi 3, 4, 5, Zero 2) and the arm64 package; " +
	"tether-agent runs on 32-bit boards, and this binary's client commands (nodes, tasks, submit, passwd, keygen) work here")

func runServe(ctx context.Context, env Env, args []string) error {
	cfg, err := config.Load(args, env.Getenv, env.Stderr)
	if err != nil {
		return err
	}
	if strconv.IntSize == 32 {
		return errServe32
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, level, err := serveLogger(env.Stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	debug.SetGCPercent(cfg.GCPercent)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	again := func() (config.Config, error) {
		c, err := config.Load(args, env.Getenv, io.Discard)
		if err == nil {
			err = c.Validate()
		}
		return c, err
	}
	return serve.Run(ctx, cfg, serve.Options{Logger: log, Version: env.Version, Reload: hup, ReloadConfig: again, Level: level})
}

// serveLogger is the scheduler's logger. Nodes, enrolling devices and
// operators can make the scheduler log (a request, a node gone, a refused
// message): each message at most ten at once, then one a second, with the
// count of those held back. Debug records pass unlimited.
func serveLogger(w io.Writer, level, format string) (*slog.Logger, *slog.LevelVar, error) {
	log, v, err := logging.NewVar(w, level, format)
	if err != nil {
		return nil, nil, err
	}
	return slog.New(logging.NewRateLimited(log.Handler(), logging.RateLimit{PassDebug: true})), v, nil
}
