package cli

import (
	"strings"
	"testing"
)

// FuzzParseImport: an import list is refused, or every user it names
// writes back as a "USER PASSWORD" line that reads as the same user and
// password; a generated password is one the list could have given.
func FuzzParseImport(f *testing.F) {
	for _, s := range []string{"pi-a pw-a\npi-b\n# comment\n\n", "a b c\n", "a x\na y\n", " \t pi-a\t pw \r\n", "a:b pw\n", "\x00 \xff\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		users, generated, err := parseImport(strings.NewReader(list))
		if err != nil {
			return
		}
		if len(generated) != len(users) {
			t.Fatalf("%d users, %d generated flags", len(users), len(generated))
		}
		var back strings.Builder
		for _, u := range users {
			if u.Name == "" || strings.ContainsAny(u.Name+u.Password, " \t\n") || u.Password == "" || strings.HasPrefix(u.Name, "#") {
				t.Fatalf("accepted user %q with password %q", u.Name, u.Password)
			}
			back.WriteString(u.Name + " " + u.Password + "\n")
		}
		again, gen2, err := parseImport(strings.NewReader(back.String()))
		if err != nil {
			t.Fatalf("written back, %q is refused: %v", back.String(), err)
		}
		if len(again) != len(users) {
			t.Fatalf("written back, %d users read as %d", len(users), len(again))
		}
		for i := range users {
			if again[i] != users[i] || gen2[i] {
				t.Fatalf("user %d: %+v read back as %+v (generated %v)", i, users[i], again[i], gen2[i])
			}
		}
	})
}
