package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestVersionFlag: --version prints the build's version and exits before
// any configuration is needed (no broker, no password).
func TestVersionFlag(t *testing.T) {
	var out, errb bytes.Buffer
	getenv := func(string) string { return "" }
	if err := run(context.Background(), []string{"--version"}, getenv, &out, &errb); err != nil {
		t.Fatalf("run --version: %v (stderr %q)", err, errb.String())
	}
	if got := strings.TrimSpace(out.String()); got != version {
		t.Errorf("--version printed %q, want %q", got, version)
	}
}
