package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/pkg/cliconf"
	"github.com/tether-edge/tether/pkg/protocol"
)

func runPasswd(_ context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("tether-broker passwd", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, "Usage: tether-broker passwd -f FILE add USER\n\n"+
			"Adds USER to a credentials file (Mosquitto's password_file format, so the\n"+
			"embedded broker and Mosquitto read the same file), or changes its password.\n"+
			"A node's user is its node id. Without --password-file or --stdin a random\n"+
			"password is generated and printed.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	file := fs.String("f", "", "credentials file (created if missing)")
	pwFile := fs.String("password-file", "", "read the password from this file")
	stdin := fs.Bool("stdin", false, "read the password from the first line of standard input")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if *file == "" || len(rest) != 2 || rest[0] != "add" {
		fs.Usage()
		return errors.New("usage: tether-broker passwd -f FILE add USER")
	}
	user := rest[1]
	if err := protocol.ValidateID("user", user); err != nil {
		return err
	}
	var password string
	generated := false
	switch {
	case *pwFile != "" && *stdin:
		return errors.New("--password-file and --stdin: pick one")
	case *pwFile != "":
		pw, err := cliconf.ReadSecret(*pwFile)
		if err != nil {
			return err
		}
		password = pw
	case *stdin:
		line, err := bufio.NewReader(env.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("reading the password from stdin: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	default:
		var b [18]byte
		_, _ = rand.Read(b[:])
		password, generated = base64.RawURLEncoding.EncodeToString(b[:]), true
	}
	if err := mqttd.AddUser(*file, user, password); err != nil {
		return err
	}
	if generated {
		fmt.Fprintln(env.Stdout, password)
	}
	fmt.Fprintf(env.Stderr, "%s: %s added; reload the broker (SIGHUP) or restart it to apply\n", *file, user)
	return nil
}
