// Command simrun runs the placement simulator until `tether-broker sim` is wired: it takes the
// same flags (sim.Config.RegisterFlags) plus -out.
//
//	go run ./broker/sim/internal/simrun -out /tmp/sim
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/tether-edge/tether/broker/sim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "simrun:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg := sim.DefaultConfig()
	fs := flag.NewFlagSet("simrun", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	out := fs.String("out", "sim-out", "directory for CSV, summary and plots")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	return sim.Run(ctx, cfg, *out, os.Stdout)
}
