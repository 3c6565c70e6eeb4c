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
	log, _, err := NewVar(w, level, format)
	return log, err
}

// NewVar is New with the logger's level held in the returned LevelVar,
// which SetLevel changes while the logger is in use (a reload).
func NewVar(w io.Writer, level, format string) (*slog.Logger, *slog.LevelVar, error) {
	if err := Check(level, format); err != nil {
		return nil, nil, err
	}
	v := new(slog.LevelVar)
	_ = SetLevel(v, level) // Check accepted it
	opts := &slog.HandlerOptions{Level: v}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), v, nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), v, nil
}

// SetLevel sets v to level: debug, info, warn or error.
func SetLevel(v *slog.LevelVar, level string) error {
	if err := Check(level, "text"); err != nil {
		return err
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return err
	}
	v.Set(l)
	return nil
}
