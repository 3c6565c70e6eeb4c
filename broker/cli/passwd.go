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
)

const passwdUsage = `Usage: tether-broker passwd -f FILE COMMAND

  add USER        add USER, or change its password
  import [LIST]   add or change many users at once
  del USER...     remove users
  list            print the users, one a line

FILE is a credentials file in Mosquitto's password_file format, so the
embedded broker and Mosquitto read the same file; it is created if missing.
A node's user is its node id; a user's role follows from its name and the
broker's configuration (docs/security.md), not from this file.

add: without --password-file or --stdin a random password is generated and
printed on standard output.

import: LIST (a file, or standard input when absent or "-") has one user a
line: "USER PASSWORD", or "USER" alone to have a password generated; blank
lines and lines starting with '#' are skipped, passwords may not contain
spaces or tabs. Generated passwords are printed as "USER PASSWORD" lines, an
import list themselves. Every line is checked before anything is written.

--hash bcrypt writes bcrypt entries instead of PBKDF2 ($7$): the embedded
broker and NATS read them (tether-broker natsconf turns the file into a NATS
cluster's users and permissions), Mosquitto does not.

Every change is one locked, atomic rewrite of FILE: concurrent runs lose
nothing, and a broker reading it never sees half a file. Reload the broker
(SIGHUP) or restart it to apply.

Flags:
`

func runPasswd(_ context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("tether-broker passwd", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, passwdUsage)
		fs.PrintDefaults()
	}
	file := fs.String("f", "", "credentials file (created if missing)")
	pwFile := fs.String("password-file", "", "add: read the password from this file")
	stdin := fs.Bool("stdin", false, "add: read the password from the first line of standard input")
	hashName := fs.String("hash", "pbkdf2", "add, import: how new passwords are hashed, pbkdf2 (Mosquitto's $7$) or bcrypt (for NATS)")
	if err := cliconf.ParseFlags(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	bad := func() error {
		cliconf.Hint(fs)
		return errors.New("usage: tether-broker passwd -f FILE add USER | import [LIST] | del USER... | list")
	}
	if *file == "" || len(rest) == 0 {
		return bad()
	}
	var hash mqttd.Hash
	switch *hashName {
	case "pbkdf2":
	case "bcrypt":
		hash = mqttd.HashBcrypt
	default:
		return fmt.Errorf("--hash %q: want pbkdf2 or bcrypt", *hashName)
	}
	switch cmd := rest[0]; {
	case cmd == "add" && len(rest) == 2:
		return passwdAdd(env, *file, rest[1], *pwFile, *stdin, hash)
	case cmd == "import" && len(rest) <= 2:
		list := "-"
		if len(rest) == 2 {
			list = rest[1]
		}
		return passwdImport(env, *file, list, hash)
	case cmd == "del" && len(rest) >= 2:
		if err := mqttd.DeleteUsers(*file, rest[1:]); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "%s: %d removed; reload the broker (SIGHUP) or restart it to apply\n", *file, len(rest)-1)
		return nil
	case cmd == "list" && len(rest) == 1:
		users, err := mqttd.ListUsers(*file)
		if err != nil {
			return err
		}
		for _, u := range users {
			fmt.Fprintln(env.Stdout, u)
		}
		return nil
	}
	return bad()
}

func passwdAdd(env Env, file, user, pwFile string, stdin bool, hash mqttd.Hash) error {
	var password string
	generated := false
	switch {
	case pwFile != "" && stdin:
		return errors.New("--password-file and --stdin: pick one")
	case pwFile != "":
		pw, err := cliconf.ReadSecret(pwFile)
		if err != nil {
			return err
		}
		password = pw
	case stdin:
		line, err := bufio.NewReader(env.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("reading the password from stdin: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	default:
		password, generated = newPassword(), true
	}
	out, err := mqttd.SetUsersHash(file, []mqttd.User{{Name: user, Password: password}}, hash)
	if err != nil {
		return err
	}
	if generated {
		fmt.Fprintln(env.Stdout, password)
	}
	fmt.Fprintf(env.Stderr, "%s: %s %s; reload the broker (SIGHUP) or restart it to apply\n", file, user, out[0])
	return nil
}

// newPassword returns 24 characters of 144 random bits.
func newPassword() string {
	var b [18]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
