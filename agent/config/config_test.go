package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/protocol"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedenceFileEnvFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	file := "node_id: from-file\nregion: eu-1\nbrokers: [tcp://a:1883]\nheartbeat: 2m\nlabels: {site: a}\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"TETHER_NODE_ID": "from-env", "TETHER_HEARTBEAT": "90s"})
	cfg, err := Load([]string{"--config", path, "--heartbeat=45s", "--broker", "tcp://b:1883", "--broker", "tcp://c:1883"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.NodeID = "from-env"
	want.Region = "eu-1"
	want.Brokers = []string{"tcp://b:1883", "tcp://c:1883"}
	want.Heartbeat = 45 * time.Second
	want.Labels = map[string]string{"site": "a"}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestBrokerFlagAloneIsEnough(t *testing.T) {
	cfg, err := Load([]string{"--broker", "tcp://sched.local:1883"}, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults plus --broker do not validate: %v", err)
	}
}

func TestUnknownFileKeyIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte("heartbaet: 10s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load([]string{"--config=" + path}, envOf(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "heartbaet") {
		t.Fatalf("misspelt key: %v, want an error naming it", err)
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	if _, err := Load([]string{"--help"}, envOf(nil), &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(out.String(), "--broker") && !strings.Contains(out.String(), "-broker") {
		t.Fatalf("usage does not list --broker:\n%s", out.String())
	}
}

func TestValidateMessages(t *testing.T) {
	cases := map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"bad broker":       {func(c *Config) { c.Brokers = []string{"localhost:1883"} }, "tcp://HOST:1883"},
		"bad scheme":       {func(c *Config) { c.Brokers = []string{"http://x:1883"} }, "scheme"},
		"no brokers":       {func(c *Config) { c.Brokers = nil }, "--broker"},
		"bad tier":         {func(c *Config) { c.Tier = "fog" }, "edge"},
		"bad node":         {func(c *Config) { c.NodeID = "a/b" }, "node_id"},
		"both passwords":   {func(c *Config) { c.Password, c.PasswordFile = "x", "y" }, "password_file"},
		"cert without key": {func(c *Config) { c.TLS.CertFile = "c.pem" }, "key_file"},
		"short keepalive":  {func(c *Config) { c.KeepAlive = time.Second }, "keepalive"},
		"heartbeat < samp": {func(c *Config) { c.Heartbeat = time.Second }, "heartbeat"},
		"bad log level":    {func(c *Config) { c.LogLevel = "loud" }, "log_level"},
		// What a birth carries stays within the protocol's bounds, or the
		// scheduler would refuse every birth of the node.
		"heartbeat > a week": {func(c *Config) { c.Heartbeat = 8 * 24 * time.Hour }, "heartbeat"},
		"65 labels": {func(c *Config) {
			c.Labels = map[string]string{}
			for i := range 65 {
				c.Labels[fmt.Sprint("l", i)] = "v"
			}
		}, "labels"},
		"long label value": {func(c *Config) { c.Labels = map[string]string{"site": strings.Repeat("x", 257)} }, "labels.site"},
	}
	for name, c := range cases {
		cfg := Default()
		c.mutate(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, c.want)
		}
	}
}

func TestDeriveNodeID(t *testing.T) {
	cases := []struct{ host, id, want string }{
		{"raspberrypi", "10000000a1b2c3d4", "raspberrypi-a1b2c3d4"},
		{"raspberrypi", "10000000e5f60718", "raspberrypi-e5f60718"},
		{"Edge.Box.local", "4c4c4544-0042-3510-8052-b4c04f4e3332", "edge-4f4e3332"},
		{"", "abc", "node-abc"},
		{"h", "", "h"},
		{"weird_host name!", "ff", "weird_host-name-ff"},
	}
	for _, c := range cases {
		got := DeriveNodeID(c.host, c.id)
		if got != c.want {
			t.Errorf("DeriveNodeID(%q, %q) = %q, want %q", c.host, c.id, got, c.want)
		}
		if err := protocol.ValidateID("node", got); err != nil {
			t.Errorf("derived id %q invalid: %v", got, err)
		}
	}
}

func FuzzDeriveNodeID(f *testing.F) {
	f.Add("raspberrypi", "10000000a1b2c3d4")
	f.Add("", "")
	f.Add("-.-", "zz")
	f.Fuzz(func(t *testing.T, host, id string) {
		got := DeriveNodeID(host, id)
		if err := protocol.ValidateID("node", got); err != nil {
			t.Fatalf("DeriveNodeID(%q, %q) = %q: %v", host, id, got, err)
		}
	})
}
