package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/task"
)

func TestKeygen(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "scheduler.key")
	env, out, _ := testEnv("")
	if err := Run(context.Background(), env, []string{"keygen", "-o", file}); err != nil {
		t.Fatal(err)
	}
	pub, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out.String()))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("printed public key %q: %v", out.String(), err)
	}
	k, err := taskengine.LoadSigningKey(file)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(pub)) {
		t.Error("the printed public key is not the key file's")
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	env, _, _ = testEnv("")
	if err := Run(context.Background(), env, []string{"keygen", "-o", file}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("overwriting a key without --force: %v", err)
	}
	env, out, _ = testEnv("")
	if err := Run(context.Background(), env, []string{"keygen", "--public", file}); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != base64.StdEncoding.EncodeToString(pub) {
		t.Errorf("--public printed %q", got)
	}
}

func TestPrintTasks(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	list := []task.Status{
		{Task: "t-1", State: task.StateRunning, Attempt: 2, Node: "pi-a", Progress: 25, Total: 100,
			Submitted: now.Add(-time.Minute), Updated: now.Add(-2 * time.Second)},
		{Task: "t-2", State: task.StatePending, Submitted: now.Add(-time.Second), Updated: now.Add(-time.Second)},
		{Task: "t-3", State: task.StateAssigned, Node: "pi-b", AtRisk: true, Submitted: now, Updated: now},
	}
	var b strings.Builder
	if err := printTasks(&b, list, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TASK", "t-1", "running", "pi-a", "25%", "1m0s ago", "t-2", "pending", "assigned AT-RISK"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestPrintTaskShowsAttempts(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	st := task.Status{Task: "t-1", State: task.StateSucceeded, Attempt: 2, Node: "pi-b", Submitted: now, Updated: now,
		EstDone: now.Add(time.Hour), AtRisk: true,
		Result: &task.Result{ExitCode: 0, CPUMS: 1500, Output: "abc123"},
		Attempts: []task.Attempt{
			{N: 1, Node: "pi-a", Assigned: now, Ended: now, State: "lost", Reason: "node offline past grace"},
			{N: 2, Node: "pi-b", Assigned: now, Ended: now, State: task.EventSucceeded, ResumedFrom: 40},
		}}
	var b strings.Builder
	if err := printTask(&b, st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"succeeded", "abc123", "1.5s", "attempts:", "pi-a", "node offline past grace", "40",
		"estimated done", "2026-11-27T11:00:00Z — AT RISK"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestProgressLine(t *testing.T) {
	t.Parallel()
	got := progressLine(task.Status{Task: "t-1", State: task.StateRunning, Attempt: 1, Node: "pi-a", Progress: 50, Total: 100})
	if want := "t-1 running attempt 1 on pi-a [##########..........]  50.0% (50/100)"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestSubmitRefusesBadSpecBeforeConnecting(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(file, []byte("kind: builtin\nbuiltin: {name: cpu, units: 0}\n"), 0o600)
	env, _, _ := testEnv("")
	err := Run(context.Background(), env, []string{"submit", "-f", file, "--broker", "tcp://127.0.0.1:1", "--timeout", "100ms"})
	if err == nil || !strings.Contains(err.Error(), "units") {
		t.Errorf("submit of a spec with 0 units: %v, want the validation error", err)
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	t.Parallel()
	env, _, _ := testEnv("")
	fs, _ := taskFlagSet(env, "task", "usage")
	asJSON := fs.Bool("json", false, "")
	rest, err := parseInterspersed(fs, []string{"t-1", "--json", "--timeout", "2s"})
	if err != nil || len(rest) != 1 || rest[0] != "t-1" || !*asJSON {
		t.Errorf("rest %v, json %v, err %v", rest, *asJSON, err)
	}
}
