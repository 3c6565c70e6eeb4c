package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/pkg/testenv"
)

func TestPasswdImportDelList(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "credentials")
	run := func(stdin string, args ...string) (string, string, error) {
		t.Helper()
		env, out, errb := testEnv(stdin)
		err := Run(context.Background(), env, append([]string{"passwd", "-f", file}, args...))
		return out.String(), errb.String(), err
	}
	out, errb, err := run("# fleet\n\npi-a pw-a\n  pi-b\tpw-b  \npi-c\n", "import")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb, "3 added, 0 changed, 0 unchanged") {
		t.Errorf("import summary %q", errb)
	}
	gen := strings.Fields(out)
	if len(gen) != 2 || gen[0] != "pi-c" || len(gen[1]) < 20 {
		t.Fatalf("generated passwords printed as %q, want one \"pi-c PASSWORD\" line", out)
	}
	creds, err := mqttd.LoadCredentials(file)
	if err != nil {
		t.Fatal(err)
	}
	if !creds.Verify("pi-a", "pw-a") || !creds.Verify("pi-b", "pw-b") || !creds.Verify("pi-c", gen[1]) {
		t.Fatal("imported users do not verify")
	}

	// Importing again: one unchanged, one changed, one added.
	list := filepath.Join(t.TempDir(), "list")
	os.WriteFile(list, []byte("pi-a pw-a\npi-b new-b\npi-d pw-d\n"), 0o600)
	if _, errb, err = run("", "import", list); err != nil || !strings.Contains(errb, "1 added, 1 changed, 1 unchanged") {
		t.Errorf("second import: %v %q", err, errb)
	}
	if _, _, err = run("", "--stdin", "add", "pi-d"); err == nil {
		t.Error("add --stdin with empty stdin succeeded")
	}
	if _, errb, err = run("other\n", "--stdin", "add", "pi-d"); err != nil || !strings.Contains(errb, "pi-d changed") {
		t.Errorf("add over an existing user: %v %q, want \"changed\"", err, errb)
	}
	if _, errb, err = run("other\n", "--stdin", "add", "pi-d"); err != nil || !strings.Contains(errb, "pi-d unchanged") {
		t.Errorf("add with the same password: %v %q, want \"unchanged\"", err, errb)
	}

	// A bad line anywhere refuses the whole list and leaves the file alone.
	before, _ := os.ReadFile(file)
	for _, bad := range []string{"pi-e pw\npi-f a b\n", "pi-e pw\nbad/user pw\n", "pi-e x\npi-e y\n"} {
		if _, _, err := run(bad, "import"); err == nil {
			t.Errorf("import %q succeeded", bad)
		}
	}
	if _, _, err := run("", "del", "pi-a", "nobody"); err == nil || !strings.Contains(err.Error(), `no user "nobody"`) {
		t.Errorf("del of an unknown user: %v", err)
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Error("refused commands changed the file")
	}

	if _, _, err := run("", "del", "pi-a", "pi-c"); err != nil {
		t.Fatal(err)
	}
	out, _, err = run("", "list")
	if err != nil || out != "pi-b\npi-d\n" {
		t.Errorf("list = %q, %v; want pi-b and pi-d", out, err)
	}
}

// TestPasswdParallelAddsKeepEveryUser runs 50 real `tether-broker passwd
// add` processes on one file at once: every user must be in the file
// afterwards, with the password it was given.
func TestPasswdParallelAddsKeepEveryUser(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := testenv.Build(t, dir, "./broker", "tether-broker", "", "", "")
	file := filepath.Join(dir, "credentials")
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			cmd := exec.Command(bin, "passwd", "-f", file, "--stdin", "add", fmt.Sprintf("pi-%02d", i))
			cmd.Stdin = strings.NewReader(fmt.Sprintf("pw-%02d\n", i))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("pi-%02d: %v: %s", i, err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	creds, err := mqttd.LoadCredentials(file)
	if err != nil {
		t.Fatal(err)
	}
	if creds.Len() != n {
		t.Errorf("%d users in the file after %d parallel adds, want all %d", creds.Len(), n, n)
	}
	for i := range n {
		if u := fmt.Sprintf("pi-%02d", i); !creds.Verify(u, fmt.Sprintf("pw-%02d", i)) {
			t.Errorf("%s is missing or has a wrong password", u)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("directory holds %d entries, want the binary and the file (temporary files left?)", len(ents))
	}
}
