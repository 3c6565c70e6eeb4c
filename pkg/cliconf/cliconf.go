// Package cliconf holds the configuration plumbing both binaries share: a
// strict YAML file reader, the pre-scan for --config, TETHER_* environment
// overrides and repeatable list flags. Each binary keeps its own Config
// struct; this package only moves values into it.
package cliconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ReadYAML decodes the file at path into dst. Unknown keys are errors, so a
// misspelt setting is reported instead of silently left at its default;
// every problem in the file is reported at once, each with its line, the
// setting's dotted path and, for a misspelt key, the nearest known one.
func ReadYAML(path string, dst any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil && !errors.Is(err, io.EOF) {
		return explain(path, b, dst, err)
	}
	return nil
}

// FindFlag returns the value of --name (or -name, --name=v) in args before
// the flags are parsed, so the config file can be read first and flags still
// win over it.
func FindFlag(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		n, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if n != name {
			continue
		}
		if hasVal {
			return val, true
		}
		if i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// Env applies TETHER_* variables to config fields. Its maps name the
// variable for each field; getenv is os.Getenv in production.
type Env struct {
	Strings   map[string]*string
	Lists     map[string]*[]string // comma-separated
	Durations map[string]*time.Duration
	Bools     map[string]*bool
}

// Apply sets every field whose variable is non-empty.
func (e Env) Apply(getenv func(string) string) error {
	for k, p := range e.Strings {
		if v := getenv(k); v != "" {
			*p = v
		}
	}
	for k, p := range e.Lists {
		if v := getenv(k); v != "" {
			*p = strings.Split(v, ",")
		}
	}
	for k, p := range e.Durations {
		if v := getenv(k); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			*p = d
		}
	}
	for k, p := range e.Bools {
		if v := getenv(k); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			*p = b
		}
	}
	return nil
}

// List is a repeatable, comma-splitting flag. Its first use replaces the
// list that came from the file or environment; later uses append.
type List struct {
	Dst *[]string
	set bool
}

func (l *List) String() string {
	if l == nil || l.Dst == nil {
		return ""
	}
	return strings.Join(*l.Dst, ",")
}

func (l *List) Set(v string) error {
	if !l.set {
		*l.Dst, l.set = nil, true
	}
	*l.Dst = append(*l.Dst, strings.Split(v, ",")...)
	return nil
}

// ReadSecret returns the first line of the file at path, without its line
// ending: a password kept in a file readable only by its user.
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Password returns password, or the secret in file when file is set: the
// password and password_file settings both binaries have.
func Password(password, file string) (string, error) {
	if file == "" {
		return password, nil
	}
	pw, err := ReadSecret(file)
	if err != nil {
		return "", fmt.Errorf("password_file: %w", err)
	}
	return pw, nil
}
