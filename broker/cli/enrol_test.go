package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-edge/tether/broker/enrol"
	"github.com/tether-edge/tether/broker/mqttd"
)

// TestEnrolTokens: token create prints a token whose enrolment identity
// verifies against the credentials file and whose hash alone is stored;
// list shows it; revoke removes the identity and marks the token.
func TestEnrolTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file, creds := filepath.Join(dir, "enrol.json"), filepath.Join(dir, "credentials")
	env, out, _ := testEnv("")
	if err := Run(context.Background(), env, []string{"enrol", "-f", file, "--credentials", creds,
		"token", "create", "--count", "20", "--expires", "24h", "--names", "pi-[0-9]+"}); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(out.String())
	id, secret, err := enrol.ParseToken(token)
	if err != nil {
		t.Fatal(err)
	}
	st, err := enrol.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	tok := st.Token(id)
	if tok == nil || tok.UsesLeft != 20 || tok.Names != "pi-[0-9]+" || !tok.Matches(secret) {
		t.Fatalf("stored token %+v", tok)
	}
	c, err := mqttd.LoadCredentials(creds)
	if err != nil || !c.Verify("enrol-"+id, secret) {
		t.Fatalf("enrolment identity enrol-%s does not verify: %v", id, err)
	}

	env, out, _ = testEnv("")
	if err := Run(context.Background(), env, []string{"enrol", "-f", file, "token", "list"}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, id) || !strings.Contains(got, "valid") || strings.Contains(got, secret) {
		t.Fatalf("list:\n%s", got)
	}

	env, _, _ = testEnv("")
	if err := Run(context.Background(), env, []string{"enrol", "-f", file, "--credentials", creds, "token", "revoke", id}); err != nil {
		t.Fatal(err)
	}
	if c, _ := mqttd.LoadCredentials(creds); c.Has("enrol-" + id) {
		t.Fatal("revoked token's identity still in the credentials file")
	}
	env, out, _ = testEnv("")
	_ = Run(context.Background(), env, []string{"enrol", "-f", file, "token", "list"})
	if !strings.Contains(out.String(), "revoked") {
		t.Fatalf("list after revoke:\n%s", out.String())
	}
	for _, args := range [][]string{
		{"enrol", "-f", file, "--credentials", creds, "token", "create", "--count", "0"},
		{"enrol", "-f", file, "--credentials", creds, "token", "create", "--names", "pi-("},
		{"enrol", "-f", file, "token", "create"},
		{"enrol", "-f", file, "--credentials", creds, "token", "revoke", "nope"},
	} {
		env, _, _ = testEnv("")
		if err := Run(context.Background(), env, args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
