package mqttd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBcryptCredentials: SetUsersHash writes bcrypt entries of BcryptCost
// that Verify accepts with the right password only; setting the same
// password again keeps the line, and switching the hash rewrites it.
func TestBcryptCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	if _, err := SetUsersHash(path, []User{{"node-a", "pw-a"}, {"node-b", "pw-b"}}, HashBcrypt); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "node-a:$2a$08$") {
		t.Fatalf("file = %q, want bcrypt cost 8 entries", data)
	}
	c, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Verify("node-a", "pw-a") || c.Verify("node-a", "pw-b") || c.Verify("node-z", "pw-a") {
		t.Error("Verify: want only node-a/pw-a accepted")
	}
	if e, _ := c.Entry("node-a"); !strings.HasPrefix(e, "$2a$08$") || len(e) != 60 {
		t.Errorf("Entry = %q", e)
	}
	out, err := SetUsersHash(path, []User{{"node-a", "pw-a"}}, HashBcrypt)
	if err != nil || out[0] != Unchanged {
		t.Errorf("same password again: %v, %v; want unchanged", out, err)
	}
	out, err = SetUsers(path, []User{{"node-a", "pw-a"}})
	if err != nil || out[0] != Changed {
		t.Errorf("same password as PBKDF2: %v, %v; want changed", out, err)
	}
	if c, _ := LoadCredentials(path); !c.Verify("node-a", "pw-a") || !c.Verify("node-b", "pw-b") {
		t.Error("mixed file: a user no longer verifies")
	}
	if _, err := SetUsersHash(path, []User{{"node-c", strings.Repeat("x", 73)}}, HashBcrypt); err == nil {
		t.Error("a 73-byte password was hashed with bcrypt, which reads only 72")
	}
}

func TestBcryptEntriesRefused(t *testing.T) {
	for name, line := range map[string]string{
		"cost 13":   "u:$2a$13$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234",
		"truncated": "u:$2a$08$abc",
		"no cost":   "u:$2a$$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234",
	} {
		if _, err := parseCredentials([]byte(line)); err == nil {
			t.Errorf("%s: %q accepted", name, line)
		}
	}
}
