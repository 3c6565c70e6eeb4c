package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/testenv"
)

// TestReloadNamesWhatNeedsARestart: SIGHUP (systemctl reload) reads
// broker.yaml again; keys that change only with a restart are named in
// the log, a file that does not load changes nothing and says why, and
// the credentials are reloaded each time.
func TestReloadNamesWhatNeedsARestart(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	cfg := filepath.Join(s.dir, "broker.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("offline_grace: 15s\n")
	p := s.startScheduler("--config", cfg)
	hup := func(want string) string {
		t.Helper()
		before := p.out.String()
		p.signal(syscall.SIGHUP)
		var out string
		if !testenv.Within(10*time.Second, func() bool {
			out = strings.TrimPrefix(p.out.String(), before)
			return strings.Contains(out, want) && strings.Contains(out, "reloaded credentials")
		}) {
			t.Fatalf("no %q after SIGHUP; the scheduler logged:\n%s", want, out)
		}
		return out
	}
	if out := hup("configuration reloaded"); strings.Contains(out, "only a restart") {
		t.Fatalf("an unchanged file named changes:\n%s", out)
	}
	write("offline_grace: 20s\ntasks:\n  progress_timeout: 1m\n")
	out := hup("configuration reloaded")
	if !strings.Contains(out, "only a restart applies it") || !strings.Contains(out, "keys=offline_grace,tasks.progress_timeout") {
		t.Fatalf("the changed keys were not named:\n%s", out)
	}
	write("offline_grace: 5\n")
	if out := hup("configuration not reloaded"); !strings.Contains(out, "offline_grace") {
		t.Fatalf("a bad file's reason does not name its key:\n%s", out)
	}
}
