package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/tether-edge/tether/broker/sim"
	"github.com/tether-edge/tether/pkg/cliconf"
)

func runSim(ctx context.Context, env Env, args []string) error {
	cfg := sim.DefaultConfig()
	// A scenario file is read first, so the flags given with it override its settings.
	scenario, _ := cliconf.FindFlag(args, "scenario")
	if scenario != "" {
		if err := sim.LoadScenario(scenario, &cfg); err != nil {
			return err
		}
	}
	fs := flag.NewFlagSet("tether-broker sim", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, "Usage: tether-broker sim [flags]\n\n"+
			"Runs the placement simulator: the scheduler's own placement code in virtual time on\n"+
			"modelled fleets and workloads, comparing policies (docs/scheduling.md). Writes\n"+
			"runs.csv, summary.md and plots to --out. --scenario FILE.yaml describes a whole site\n"+
			"(nodes, links, task classes, arrivals, failures); the other flags override it.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	cfg.RegisterFlags(fs)
	out := fs.String("out", "sim-out", "directory for the CSV, the summary and the plots")
	fs.String("scenario", scenario, "a scenario file describing the site (broker/sim/scenarios)")
	if err := cliconf.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return sim.Run(ctx, cfg, *out, env.Stdout)
}
