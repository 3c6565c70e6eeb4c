package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/cliconf"
)

func runKeygen(_ context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("tether-broker keygen", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, "Usage: tether-broker keygen -o FILE [--force]\n"+
			"       tether-broker keygen --public FILE\n\n"+
			"Makes the scheduler's ed25519 signing key (PEM, PKCS #8; tasks.signing_key in the broker's config)\n"+
			"and prints its public key for the agents' tasks.scheduler_keys. --public prints the public key\n"+
			"of an existing key file.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	out := fs.String("o", "", "write the new private key to this file (mode 0600)")
	force := fs.Bool("force", false, "overwrite an existing key file (agents pinning the old key refuse assignments until updated)")
	public := fs.String("public", "", "print the public key of this private key file")
	if err := cliconf.ParseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *public != "" && *out == "":
		k, err := taskengine.LoadSigningKey(*public)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(env.Stdout, base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey)))
		return err
	case *out != "" && *public == "":
	default:
		cliconf.Hint(fs)
		return errors.New("keygen: give -o FILE or --public FILE")
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	pemBytes, err := taskengine.EncodeSigningKey(priv)
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(*out, flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists: agents pin its public key; use --force to replace it", *out)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(pemBytes); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "wrote %s; put this public key in every agent's tasks.scheduler_keys (or --scheduler-key):\n", *out)
	_, err = fmt.Fprintln(env.Stdout, base64.StdEncoding.EncodeToString(pub))
	return err
}
