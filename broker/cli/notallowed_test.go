package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMonitorSubmitSaysNotAllowed: a monitor's submit and cancel are
// refused by the broker, which answers them at once with why — not a
// dropped publish the client waits on until its timeout.
func TestMonitorSubmitSaysNotAllowed(t *testing.T) {
	t.Parallel()
	url, pw := bareBroker(t)
	spec := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(spec, []byte("kind: builtin\nbuiltin:\n  name: cpu\n  units: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"submit", "-f", spec}, {"cancel", "job-1"}} {
		env, _, _ := testEnv("")
		start := time.Now()
		err := Run(context.Background(), env, append(args, "--broker", url, "--username", "mon", "--password-file", pw["mon"], "--timeout", "20s"))
		if err == nil || !strings.Contains(err.Error(), "not allowed: mon is a monitor") {
			t.Errorf("%s as a monitor: %v", args[0], err)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("%s as a monitor took %v: the refusal waited for the timeout", args[0], d)
		}
	}
}
