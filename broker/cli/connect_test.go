package cli

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/broker/mqttd/mqttdtest"
)

// bareBroker is an embedded broker with no scheduler behind it, users
// "ops" (an operator) and "mon" (a monitor), and password files for them.
func bareBroker(t *testing.T) (url string, pw map[string]string) {
	t.Helper()
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	pw = map[string]string{}
	for user, p := range map[string]string{"ops": "ops-pw", "mon": "mon-pw"} {
		if err := mqttd.AddUser(creds, user, p); err != nil {
			t.Fatal(err)
		}
		pw[user] = filepath.Join(dir, user+".pw")
		if err := os.WriteFile(pw[user], []byte(p+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pw["wrong"] = filepath.Join(dir, "wrong.pw")
	if err := os.WriteFile(pw["wrong"], []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, url = mqttdtest.Start(t, mqttd.Options{CredentialsFile: creds, Region: "default",
		OperatorUsers: []string{"ops"}, MonitorUsers: []string{"mon"}})
	return url, pw
}

// closedPort is a local port nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestConnectErrorsSayWhy: a wrong password and a port nothing listens on
// each get their own message, at once rather than after the timeout.
func TestConnectErrorsSayWhy(t *testing.T) {
	t.Parallel()
	url, pw := bareBroker(t)
	closed := closedPort(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"wrong password", []string{"--broker", url, "--username", "ops", "--password-file", pw["wrong"]},
			`not authorised: check the user and password (user "ops")`},
		{"unknown user", []string{"--broker", url, "--username", "nobody", "--password-file", pw["ops"]},
			`not authorised: check the user and password (user "nobody")`},
		{"HOST:PORT", []string{"--broker", strings.TrimPrefix(url, "tcp://"), "--username", "ops", "--password-file", pw["wrong"]},
			`not authorised: check the user and password (user "ops")`},
		{"nothing listening", []string{"--broker", "tcp://" + closed}, "nothing listening at " + closed},
	}
	for _, c := range cases {
		for _, cmd := range [][]string{{"tasks"}, {"task", "t-1"}, {"nodes"}} {
			env, _, _ := testEnv("")
			start := time.Now()
			// The timeout is long: the test fails if the error waits for it.
			err := Run(context.Background(), env, append(append(cmd, c.args...), "--timeout", "30s"))
			took := time.Since(start)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %s: %v, want %q", cmd[0], c.name, err, c.want)
			}
			if took > 15*time.Second {
				t.Errorf("%s %s: took %v: it waited for the timeout", cmd[0], c.name, took)
			}
		}
	}
}

// TestConnectTimeoutSaysSo: a broker that accepts TCP but never answers
// the CONNECT is reported as a timeout.
func TestConnectTimeoutSaysSo(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
		}
	}()
	env, _, _ := testEnv("")
	err = Run(context.Background(), env, []string{"tasks", "--broker", "tcp://" + l.Addr().String(), "--timeout", "500ms"})
	if err == nil || !strings.Contains(err.Error(), "timed out after 500ms") {
		t.Errorf("got %v, want a timeout", err)
	}
}
