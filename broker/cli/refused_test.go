package cli

import (
	"context"
	"strings"
	"testing"
)

// TestTasksWithoutSchedulerFails: with no scheduler behind the broker,
// `tasks` says no scheduler answered and fails, rather than listing none.
func TestTasksWithoutSchedulerFails(t *testing.T) {
	url, pw := bareBroker(t)
	env, out, _ := testEnv("")
	err := Run(context.Background(), env, []string{"tasks", "--broker", url, "--username", "ops", "--password-file", pw["ops"], "--timeout", "1s"})
	if err == nil || !strings.Contains(err.Error(), "no scheduler answered") || strings.Contains(out.String(), "no tasks") {
		t.Errorf("got %v, output %q", err, out.String())
	}
}
