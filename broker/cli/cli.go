// Package cli is tether-broker's command line: serve (the scheduler), nodes
// (the fleet from any machine that reaches the broker), submit, tasks, task
// and cancel (tasks, as an operator), keygen (the assignment signing key),
// passwd (the credentials file), enrol (site enrolment tokens), loadgen (a simulated fleet), sim (the placement simulator) and version. Each command parses its own flags and has
// --help.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// Env is what a command may touch of the process: tests pass their own.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Version is the build's version string.
	Version string
}

type command struct {
	summary string
	run     func(ctx context.Context, env Env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":      {"run the regional scheduler (with its embedded MQTT broker unless --mqtt-url)", runServe},
		"nodes":      {"print the fleet as the scheduler sees it", runNodes},
		"passwd":     {"add, import, delete or list users of a credentials file", runPasswd},
		"enrol":      {"make, list or revoke site enrolment tokens for zero-touch enrolment", runEnrol},
		"sim":        {"run the placement simulator and compare policies", runSim},
		"submit":     {"submit a task spec (YAML or JSON); --wait follows it to the end", runSubmit},
		"tasks":      {"list tasks and their states", runTasks},
		"task":       {"show one task with its attempt history", runTask},
		"cancel":     {"cancel a task", runCancel},
		"quarantine": {"list the nodes in quarantine, or release one", runQuarantine},
		"loadgen":    {"run a fleet of simulated agents against a broker and check nothing acknowledged is lost", runLoadgen},
		"natsconf":   {"print a NATS cluster's users and topic permissions from a credentials file", runNatsconf},
		"keygen":     {"make the scheduler's signing key for task assignments", runKeygen},
		"version": {"print the version (also --version)", func(_ context.Context, env Env, _ []string) error {
			_, err := fmt.Fprintln(env.Stdout, env.Version)
			return err
		}},
	}
}

// Run dispatches args (without the program name) to a command.
func Run(ctx context.Context, env Env, args []string) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stdout, cmds)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = []string{"version"}
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(env.Stderr, cmds)
		return fmt.Errorf("unknown command %q", args[0])
	}
	err := c.run(ctx, env, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "Usage: tether-broker COMMAND [flags]\n\nCommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'tether-broker COMMAND --help' for a command's flags.")
}

// OSEnv is the real process environment.
func OSEnv(version string) Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Version: version}
}
