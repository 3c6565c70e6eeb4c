// Package logging builds the slog logger both binaries use.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Check reports a level other than debug, info, warn or error, or a format
// other than text or json, in the words of a config file's keys.
func Check(level, format string) error {
	switch level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level %q: use debug, info, warn or error", level)
	}
	if format != "text" && format != "json" {
		return fmt.Errorf("log_format %q: use text or json", format)
	}
	return nil
}

// New returns a logger writing to w at level in format (see Check).
func New(w io.Writer, level, format string) (*slog.Logger, error) {
	if err := Check(level, format); err != nil {
		return nil, err
	}
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level))) // Check accepted it
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
