package mqttd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-edge/tether/pkg/testenv"
)

// testdata/mosquitto.passwd was written by mosquitto_passwd 2.0.11; its
// first line says which password is whose.
func TestVerifyMosquittoPasswdFixture(t *testing.T) {
	c, err := LoadCredentials("testdata/mosquitto.passwd")
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]string{"alice": "secret", "bob": "p:w d", "carol": "älter-pässwort", "dave": "x"}
	if c.Len() != len(good) {
		t.Errorf("Len = %d, want %d", c.Len(), len(good))
	}
	for user, pw := range good {
		if !c.Verify(user, pw) {
			t.Errorf("Verify(%q, %q) = false, want true", user, pw)
		}
		if c.Verify(user, pw+"x") || c.Verify(user, "") {
			t.Errorf("Verify(%q) accepted a wrong password", user)
		}
	}
	if c.Verify("mallory", "secret") {
		t.Error("unknown user verified")
	}
	if c.Verify("alice", "bob") || c.Verify("bob", "secret") {
		t.Error("another user's password verified")
	}
}

func TestHashPasswordRoundTrip(t *testing.T) {
	enc, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$7$101$") {
		t.Errorf("HashPassword = %q, want a $7$101$ hash", enc)
	}
	c, err := parseCredentials([]byte("n1:" + enc + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Verify("n1", "correct horse") || c.Verify("n1", "correct horse ") {
		t.Error("round trip failed")
	}
	enc2, _ := HashPassword("correct horse")
	if enc == enc2 {
		t.Error("two hashes of one password are equal: salt is not random")
	}
	for _, bad := range []string{"", "a\x00b", strings.Repeat("x", 65536)} {
		if _, err := HashPassword(bad); err == nil {
			t.Errorf("HashPassword(%.10q…) succeeded, want an error", bad)
		}
	}
}

func TestParseCredentialsErrors(t *testing.T) {
	good, _ := HashPassword("pw")
	tests := []struct {
		name, file, want string
	}{
		{"plain text password", "a:secret\n", "1: user \"a\": password is not a hash"},
		{"no colon", "# c\nalice\n", "2: want user:$7$"},
		{"empty user", ":" + good, "1: empty user name"},
		{"unknown type", "a:$5$abc$def", "$5$ is not supported"},
		{"bad iterations", "a:$7$0$bg72s+1umpmHlyoZ$" + strings.Repeat("A", 86) + "==", "iterations \"0\""},
		{"huge iterations", "a:$7$99999999$bg72s+1umpmHlyoZ$x", "iterations"},
		{"short salt", "a:$7$101$YWJj$" + strings.Repeat("A", 86) + "==", "salt must be 12 bytes"},
		{"short hash", "a:$7$101$bg72s+1umpmHlyoZ$YWJj", "hash must be 64 bytes"},
		{"missing field", "a:$6$bg72s+1umpmHlyoZ", "want $6$salt$hash"},
		{"duplicate", "a:" + good + "\n\nb:" + good + "\na:" + good + "\n", "4: user \"a\" appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseCredentials([]byte(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}

	path := filepath.Join(t.TempDir(), "creds")
	os.WriteFile(path, []byte("# fine\n\nx:plain\n"), 0o600)
	_, err := LoadCredentials(path)
	if err == nil || !strings.Contains(err.Error(), path+":3:") {
		t.Errorf("LoadCredentials error = %v, want it to name %s:3", err, path)
	}
}

func TestParseCredentialsAcceptsMosquittoLayout(t *testing.T) {
	good, _ := HashPassword("pw")
	// CRLF, blank lines, comments and blanks around fields, as Mosquitto
	// tolerates them.
	c, err := parseCredentials([]byte("# header\r\n\r\n a : " + good + " \r\n   \nb:" + good))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Verify("a", "pw") || !c.Verify("b", "pw") {
		t.Error("entries not usable")
	}
}

func TestAddUser(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "creds")

	if err := AddUser(path, "node-1", "one"); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("new file mode = %v, want 0600", fi.Mode().Perm())
	}
	// Add comments and another user by hand, then change node-1's password:
	// everything else must stay byte for byte.
	orig, _ := os.ReadFile(path)
	other, _ := HashPassword("two")
	hand := "# site creds\n" + string(orig) + "\n# scheduler below\nscheduler:" + other + "\n"
	os.WriteFile(path, []byte(hand), 0o600)
	os.Chmod(path, 0o640)

	if err := AddUser(path, "node-1", "uno"); err != nil {
		t.Fatal(err)
	}
	if err := AddUser(path, "node-2", "dos"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	lines := strings.Split(string(got), "\n")
	want := []string{"# site creds", "node-1:", "", "# scheduler below", "scheduler:" + other, "node-2:", ""}
	if len(lines) != len(want) {
		t.Fatalf("file has %d lines, want %d:\n%s", len(lines), len(want), got)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) || (want[i] == "" && lines[i] != "") {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], want[i])
		}
	}
	c, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Verify("node-1", "uno") || c.Verify("node-1", "one") || !c.Verify("node-2", "dos") || !c.Verify("scheduler", "two") {
		t.Error("passwords after AddUser are wrong")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after rewrite = %v, want 0640 kept", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory has %d entries, want only the file (temp files left?)", len(ents))
	}

	// Refusals leave the file alone.
	for _, bad := range []struct{ user, pw string }{{"bad/user", "x"}, {"a:b", "x"}, {"", "x"}, {"node-3", ""}} {
		if err := AddUser(path, bad.user, bad.pw); err == nil {
			t.Errorf("AddUser(%q, %q) succeeded, want an error", bad.user, bad.pw)
		}
	}
	os.WriteFile(path, []byte("x:plain\n"), 0o600)
	if err := AddUser(path, "node-1", "x"); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("AddUser on a malformed file: error = %v, want a line number", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "x:plain\n" {
		t.Error("malformed file was rewritten")
	}
}

// TestMosquittoPasswdInterop checks that a file made by the real
// mosquitto_passwd verifies here, and that mosquitto_passwd can update a
// file AddUser wrote (it refuses a file it cannot parse). That Mosquitto
// accepts AddUser's hashes for login is TestACLMosquitto's job.
func TestMosquittoPasswdInterop(t *testing.T) {
	bin := testenv.RequireTool(t, "mosquitto_passwd")
	dir := t.TempDir()
	path := filepath.Join(dir, "creds")
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd %v: %v\n%s", args, err, out)
		}
	}
	run("-c", "-b", path, "node-a", "pa ss:word")
	run("-H", "sha512", "-b", path, "old", "legacy")
	if err := AddUser(path, "node-b", "bee"); err != nil {
		t.Fatal(err)
	}
	run("-b", path, "node-c", "sea") // mosquitto_passwd rewrites our line too
	c, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	for user, pw := range map[string]string{"node-a": "pa ss:word", "old": "legacy", "node-b": "bee", "node-c": "sea"} {
		if !c.Verify(user, pw) {
			t.Errorf("Verify(%q) = false", user)
		}
	}
}

func FuzzParseCredentials(f *testing.F) {
	fixture, _ := os.ReadFile("testdata/mosquitto.passwd")
	f.Add(fixture)
	f.Add([]byte("a:$6$bg72s+1umpmHlyoZ$x\n"))
	f.Add([]byte("a:$7$101$$\n#\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseCredentials(data)
		if err != nil {
			return
		}
		// Every entry re-encodes to a line that parses to the same hash.
		for user, h := range c.users {
			again, err := parseCredentials([]byte(user + ":" + h.String()))
			if err != nil {
				t.Fatalf("re-encoded %q does not parse: %v", user, err)
			}
			if again.users[user].String() != h.String() {
				t.Fatalf("round trip changed %q", user)
			}
		}
	})
}
