package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/serve"
	"github.com/tether-edge/tether/pkg/logging"
)

func runServe(ctx context.Context, env Env, args []string) error {
	cfg, err := config.Load(args, env.Getenv, env.Stderr)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := logging.New(env.Stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return serve.Run(ctx, cfg, serve.Options{Logger: log, Version: env.Version, Reload: hup})
}
