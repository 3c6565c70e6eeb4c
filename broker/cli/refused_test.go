package cli

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestTasksWithoutSchedulerFails: with no scheduler behind the broker,
// `tasks` says no scheduler answered and fails, rather than listing none.
func TestTasksWithoutSchedulerFails(t *testing.T) {
	t.Parallel()
	url, pw := bareBroker(t)
	env, out, _ := testEnv("")
	err := Run(context.Background(), env, []string{"tasks", "--broker", url, "--username", "ops", "--password-file", pw["ops"], "--timeout", "1s"})
	if err == nil || !strings.Contains(err.Error(), "no scheduler answered") || strings.Contains(out.String(), "no tasks") {
		t.Errorf("got %v, output %q", err, out.String())
	}
}

// TestDevNullIsNoTerminal: /dev/null is a character device but no
// terminal, so it gets no progress bar or escape sequences.
func TestDevNullIsNoTerminal(t *testing.T) {
	t.Parallel()
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("/dev/null counted as a terminal")
	}
	p, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	defer p.Close()
	if !isTerminal(p) {
		t.Error("a pseudo-terminal counted as no terminal")
	}
}
