package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestTasksSurviveSchedulerRestart: after the scheduler restarts on the
// same task store, `tasks` lists the tasks submitted before and `task ID`
// shows one.
func TestTasksSurviveSchedulerRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := specFile(t, "id: before-restart\nkind: builtin\nbuiltin: {name: cpu, units: 1}\n")
	pwFile := filepath.Join(dir, "ops.pw")
	start := func() (string, func()) { return startServeIn(t, dir) }
	url, stop := start()
	env, _, errb := testEnv("")
	if err := Run(context.Background(), env, []string{"submit", "-f", spec, "--broker", url, "--username", "ops", "--password-file", pwFile}); err != nil {
		stop()
		t.Fatalf("submit: %v\n%s", err, errb.String())
	}
	stop()
	url, stop = start()
	defer stop()
	env, out, errb := testEnv("")
	if err := Run(context.Background(), env, []string{"tasks", "--broker", url, "--username", "ops", "--password-file", pwFile}); err != nil {
		t.Fatalf("tasks: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "before-restart") {
		t.Errorf("tasks after a restart:\n%s", out.String())
	}
	env, out, errb = testEnv("")
	if err := Run(context.Background(), env, []string{"task", "before-restart", "--broker", url, "--username", "ops", "--password-file", pwFile}); err != nil {
		t.Errorf("task after a restart: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "pending") {
		t.Errorf("task after a restart:\n%s", out.String())
	}
}
