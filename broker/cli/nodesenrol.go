package cli

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/tether-edge/tether/broker/enrol"
	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/pkg/cliconf"
	"github.com/tether-edge/tether/pkg/protocol"
)

const nodesEnrolUsage = `Usage: tether-broker nodes approve|revoke|pending -f FILE [--credentials CREDS] [NODE]

  pending        print the enrolment requests waiting for approval, with why
  approve NODE   let NODE enrol at its next request whatever its token's policy
                 (a wrong or revoked token is still refused); lifts a revocation
  revoke NODE    remove NODE's credentials and mark it revoked: it cannot
                 enrol again until approved. Reload the broker (SIGHUP): the
                 embedded broker then disconnects it and refuses its CONNECTs.

FILE is the scheduler's enrolment file (enrol.file), CREDS the broker's
credentials file (revoke only).

Flags:
`

// runNodesEnrol runs nodes approve, revoke and pending on the scheduler's
// files.
func runNodesEnrol(env Env, cmd string, args []string) error {
	fs := flag.NewFlagSet("tether-broker nodes "+cmd, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, nodesEnrolUsage)
		fs.PrintDefaults()
	}
	file := fs.String("f", "", "enrolment file")
	creds := fs.String("credentials", "", "the broker's credentials file (revoke)")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	bad := func() error {
		cliconf.Hint(fs)
		return errors.New("usage: tether-broker nodes approve|revoke|pending -f FILE [--credentials CREDS] [NODE]")
	}
	if *file == "" || (cmd == "pending") != (len(rest) == 0) || len(rest) > 1 || (cmd == "revoke" && *creds == "") {
		return bad()
	}
	if cmd == "pending" {
		st, err := enrol.Load(*file)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tTOKEN\tSINCE\tREASON")
		for _, p := range st.Pending {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Node, p.Token, p.Since.Format(time.RFC3339), p.Reason)
		}
		return tw.Flush()
	}
	node := rest[0]
	if err := protocol.ValidateID("node id", node); err != nil {
		return err
	}
	if cmd == "approve" {
		if err := enrol.Update(*file, func(st *enrol.State) error { st.Approve(node); return nil }); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "%s approved: it is enrolled at its next request\n", node)
		return nil
	}
	if err := enrol.Update(*file, func(st *enrol.State) error { st.Revoke(node); return nil }); err != nil {
		return err
	}
	users, err := mqttd.ListUsers(*creds)
	if err != nil {
		return err
	}
	if slices.Contains(users, node) {
		if err := mqttd.DeleteUsers(*creds, []string{node}); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.Stderr, "%s revoked; reload the broker (SIGHUP, systemctl reload tether-broker) to disconnect it\n", node)
	return nil
}
