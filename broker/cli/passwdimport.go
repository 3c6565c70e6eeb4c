package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tether-edge/tether/broker/mqttd"
)

// maxImportLine bounds one line of an import list: a 64-character user and
// a password of MQTT's 65,535 bytes at most.
const maxImportLine = 70_000

func passwdImport(env Env, file, list string, hash mqttd.Hash) error {
	in := env.Stdin
	if list != "-" {
		f, err := os.Open(list)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		in = f
	}
	users, generated, err := parseImport(in)
	if err != nil {
		if list == "-" {
			list = "standard input"
		}
		return fmt.Errorf("import %s:%w", list, err)
	}
	outcomes, err := mqttd.SetUsersHash(file, users, hash)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(env.Stdout)
	for i, g := range generated {
		if g {
			fmt.Fprintf(w, "%s %s\n", users[i].Name, users[i].Password)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	var n [4]int
	for _, o := range outcomes {
		n[o]++
	}
	fmt.Fprintf(env.Stderr, "%s: %d added, %d changed, %d unchanged; reload the broker (SIGHUP) or restart it to apply\n",
		file, n[mqttd.Added], n[mqttd.Changed], n[mqttd.Unchanged])
	return nil
}

// parseImport reads an import list: "USER PASSWORD" or "USER" a line, blank
// lines and '#' comments skipped. generated[i] is true where the password
// was made here. Errors start with the line number ("3: ...").
func parseImport(r io.Reader) (users []mqttd.User, generated []bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxImportLine)
	seen := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) > 2 {
			return nil, nil, fmt.Errorf("%d: want USER [PASSWORD]; a password may not contain spaces", n)
		}
		if first, dup := seen[f[0]]; dup {
			return nil, nil, fmt.Errorf("%d: user %q already on line %d", n, f[0], first)
		}
		seen[f[0]] = n
		u := mqttd.User{Name: f[0]}
		if len(f) == 2 {
			u.Password = f[1]
		} else {
			u.Password = newPassword()
		}
		users = append(users, u)
		generated = append(generated, len(f) == 1)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf(" %w", err)
	}
	return users, generated, nil
}
