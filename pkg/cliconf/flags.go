package cliconf

import (
	"errors"
	"flag"
	"fmt"
)

// ParseFlags parses args with fs. The full usage is printed only for -h or
// --help; a bad flag or value prints the flag package's one-line error and
// Hint, so the mistake is not buried under every flag's description.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	full := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = full
	switch {
	case errors.Is(err, flag.ErrHelp):
		if full != nil {
			full()
		} else {
			fs.PrintDefaults()
		}
	case err != nil:
		Hint(fs)
	}
	return err
}

// Hint prints the line that points at the full usage of fs's command,
// for a command line that is wrong in a way its own error explains.
func Hint(fs *flag.FlagSet) {
	fmt.Fprintf(fs.Output(), "run '%s --help' for its flags\n", fs.Name())
}
