package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tether-edge/tether/broker/enrol"
	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/pkg/cliconf"
)

const enrolUsage = `Usage: tether-broker enrol -f FILE --credentials CREDS token COMMAND

  token create [--count N] [--expires D] [--names RE]
                  make a site enrolment token and print it (once: only its
                  hash is kept)
  token list      print the tokens: id, uses left, expiry, names, state
  token revoke ID stop a token: its enrolment identity can no longer connect

FILE is the scheduler's enrolment file (the broker configuration's
enrol.file): tokens, pending requests, approved and revoked nodes. CREDS is
the broker's credentials file: each token has an MQTT user "enrol-<id>"
whose password is the token's secret, the restricted identity agents enrol
with (docs/security.md). Put the printed token in the agents' enrol.token_file.

A token enrols up to --count nodes whose id matches --names (a regular
expression matched against the whole node id; empty: any) until --expires
from now. Requests outside that policy wait for 'tether-broker nodes approve
NODE'. Reload the broker (SIGHUP) or restart it to apply a new or revoked
token's identity.

Flags:
`

func runEnrol(_ context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("tether-broker enrol", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, enrolUsage)
		fs.PrintDefaults()
	}
	file := fs.String("f", "", "enrolment file (created if missing)")
	creds := fs.String("credentials", "", "the broker's credentials file")
	count := fs.Int("count", 1, "token create: how many nodes the token enrols")
	expires := fs.Duration("expires", 24*time.Hour, "token create: how long the token is valid")
	names := fs.String("names", "", "token create: node ids the token enrols (regular expression, whole id; empty: any)")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	bad := func() error {
		cliconf.Hint(fs)
		return errors.New("usage: tether-broker enrol -f FILE --credentials CREDS token create|list|revoke ID")
	}
	if *file == "" || len(rest) < 2 || rest[0] != "token" {
		return bad()
	}
	switch cmd := rest[1]; {
	case cmd == "create" && len(rest) == 2:
		if *creds == "" {
			return bad()
		}
		tok, s, err := enrol.NewToken(time.Now(), *count, *expires, *names)
		if err != nil {
			return err
		}
		// The identity first: a token in the file always has its user.
		if _, err := mqttd.SetUsers(*creds, []mqttd.User{{Name: tok.User(), Password: s[len(tok.ID)+1:]}}); err != nil {
			return err
		}
		if err := enrol.Update(*file, func(st *enrol.State) error {
			st.Tokens = append(st.Tokens, tok)
			return nil
		}); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, s)
		fmt.Fprintf(env.Stderr, "token %s: %d uses until %s; reload the broker (SIGHUP) or restart it to apply\n",
			tok.ID, tok.UsesLeft, tok.Expires.Format(time.RFC3339))
		return nil
	case cmd == "list" && len(rest) == 2:
		st, err := enrol.Load(*file)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSES LEFT\tEXPIRES\tNAMES\tSTATE")
		now := time.Now()
		for _, t := range st.Tokens {
			state := "valid"
			switch {
			case t.Revoked:
				state = "revoked"
			case !now.Before(t.Expires):
				state = "expired"
			case t.UsesLeft <= 0:
				state = "used up"
			}
			names := t.Names
			if names == "" {
				names = "(any)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", t.ID, t.UsesLeft, t.Expires.Format(time.RFC3339), names, state)
		}
		return tw.Flush()
	case cmd == "revoke" && len(rest) == 3:
		if *creds == "" {
			return bad()
		}
		id := rest[2]
		var user string
		if err := enrol.Update(*file, func(st *enrol.State) error {
			t := st.Token(id)
			if t == nil {
				return fmt.Errorf("no token %q", id)
			}
			t.Revoked, user = true, t.User()
			return nil
		}); err != nil {
			return err
		}
		if err := mqttd.DeleteUsers(*creds, []string{user}); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "token %s revoked; reload the broker (SIGHUP) or restart it to apply\n", id)
		return nil
	}
	return bad()
}
