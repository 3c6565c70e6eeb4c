package cli

import (
	"context"

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
	return serve.Run(ctx, cfg, serve.Options{Logger: log, Version: env.Version})
}
