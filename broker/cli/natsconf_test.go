package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestNatsconf: users made with passwd --hash bcrypt become NATS users with
// their role's permissions; a PBKDF2 entry is refused with what to do.
func TestNatsconf(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "credentials")
	run := func(stdin string, args ...string) (string, string, error) {
		t.Helper()
		env, out, errb := testEnv(stdin)
		err := Run(context.Background(), env, args)
		return out.String(), errb.String(), err
	}
	if _, errb, err := run("pi-a pw-a\nsched pw-s\n", "passwd", "--hash", "bcrypt", "-f", file, "import"); err != nil {
		t.Fatalf("import: %v: %s", err, errb)
	}
	out, errb, err := run("", "natsconf", "-f", file, "--region", "eu-1", "--scheduler", "sched")
	if err != nil {
		t.Fatalf("natsconf: %v: %s", err, errb)
	}
	for _, want := range []string{`user: "pi-a"`, `password: "$2a$08$`, `"tether.v1.eu-1.nodes.pi-a.status"`, `user: "sched"`, `"tether.v1.eu-1.>"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if _, errb, err := run("pi-b pw-b\n", "passwd", "-f", file, "import"); err != nil {
		t.Fatalf("import: %v: %s", err, errb)
	}
	if _, _, err := run("", "natsconf", "-f", file, "--region", "eu-1", "--scheduler", "sched"); err == nil || !strings.Contains(err.Error(), "--hash bcrypt") {
		t.Errorf("a PBKDF2 entry: err = %v, want it to say --hash bcrypt", err)
	}
	if _, _, err := run("", "natsconf", "-f", file); err == nil {
		t.Error("no --region accepted")
	}
}
