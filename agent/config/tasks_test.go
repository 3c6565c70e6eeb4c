package config

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func testKey(t *testing.T) ed25519.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestParsePublicKeyForms(t *testing.T) {
	pub := testKey(t)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]string{
		"raw base64":          base64.StdEncoding.EncodeToString(pub),
		"raw base64 unpadded": base64.RawStdEncoding.EncodeToString(pub),
		"pkix base64":         base64.StdEncoding.EncodeToString(der),
		"pem":                 string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
	}
	for name, s := range forms {
		got, err := ParsePublicKey(s)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !got.Equal(pub) {
			t.Errorf("%s: got another key", name)
		}
	}
}

func TestParsePublicKeyRefusals(t *testing.T) {
	cases := map[string]string{
		"not base64":  "!!!",
		"short":       base64.StdEncoding.EncodeToString([]byte("short")),
		"private pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		"torn pem":    "-----BEGIN PUBLIC KEY-----\nAAAA",
		"empty":       "",
	}
	for name, s := range cases {
		if _, err := ParsePublicKey(s); err == nil {
			t.Errorf("%s: %q accepted", name, s)
		}
	}
}

func TestTasksFromFileEnvAndFlags(t *testing.T) {
	k1 := base64.StdEncoding.EncodeToString(testKey(t))
	k2 := base64.StdEncoding.EncodeToString(testKey(t))
	path := filepath.Join(t.TempDir(), "agent.yaml")
	file := "tasks:\n  slots: 3\n  allow: [/usr/bin/a]\n  scheduler_keys: [" + k1 + "]\n  checkpoint_limit: 1024\n" +
		"  output_tail: 512\n  kill_grace: 2s\n  progress_interval: 10s\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"TETHER_TASK_SLOTS": "2", "TETHER_TASK_WORKDIR": "/srv/tasks"})
	cfg, err := Load([]string{"--config", path, "--scheduler-key", k2, "--task-allow", "/usr/bin/b"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Tasks{Slots: 2, Allow: []string{"/usr/bin/b"}, SchedulerKeys: []string{k2}, CheckpointLimit: 1024,
		OutputTail: 512, Workdir: "/srv/tasks", KillGrace: 2 * time.Second, ProgressInterval: 10 * time.Second}
	if diff := cmp.Diff(want, cfg.Tasks); diff != "" {
		t.Fatalf("tasks (-want +got):\n%s", diff)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := cfg.TaskWorkdir(); got != "/srv/tasks" {
		t.Fatalf("TaskWorkdir = %q", got)
	}
}

func TestTaskDefaults(t *testing.T) {
	cfg := Default()
	want := Tasks{CheckpointLimit: 16 << 10, OutputTail: 4 << 10, KillGrace: 5 * time.Second,
		ProgressInterval: 30 * time.Second}
	if diff := cmp.Diff(want, cfg.Tasks); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
	if got := cfg.TaskWorkdir(); got != "/var/lib/tether/tasks" {
		t.Fatalf("default TaskWorkdir = %q", got)
	}
	if _, err := Load(nil, envOf(map[string]string{"TETHER_TASK_SLOTS": "many"}), io.Discard); err == nil {
		t.Fatal("TETHER_TASK_SLOTS=many accepted")
	}
}

func TestTaskValidateMessages(t *testing.T) {
	cases := map[string]struct {
		mutate func(*Tasks)
		want   string
	}{
		"negative slots":   {func(c *Tasks) { c.Slots = -1 }, "tasks.slots"},
		"relative command": {func(c *Tasks) { c.Allow = []string{"bin/job"} }, "absolute path"},
		"unclean command":  {func(c *Tasks) { c.Allow = []string{"/usr/bin/../bin/job"} }, `"/usr/bin/job"`},
		"twice":            {func(c *Tasks) { c.Allow = []string{"/a", "/a"} }, "twice"},
		"bad key":          {func(c *Tasks) { c.SchedulerKeys = []string{"nope"} }, "scheduler_keys: key 1"},
		"huge checkpoint":  {func(c *Tasks) { c.CheckpointLimit = 1 << 20 }, "checkpoint_limit"},
		"huge tail":        {func(c *Tasks) { c.OutputTail = 1 << 20 }, "output_tail"},
		"relative workdir": {func(c *Tasks) { c.Workdir = "tasks" }, "tasks.workdir"},
		"negative grace":   {func(c *Tasks) { c.KillGrace = -time.Second }, "kill_grace"},
		"no progress":      {func(c *Tasks) { c.ProgressInterval = 0 }, "progress_interval"},
		"slow progress":    {func(c *Tasks) { c.ProgressInterval = 2 * time.Minute }, "progress_interval"},
		"part seconds":     {func(c *Tasks) { c.ProgressInterval = 1500 * time.Millisecond }, "progress_interval"},
	}
	for name, c := range cases {
		cfg := Default()
		c.mutate(&cfg.Tasks)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, c.want)
		}
	}
}

// TestDeployExampleLoads keeps deploy/agent.yaml a valid configuration
// whose tasks section says what the defaults are.
func TestDeployExampleLoads(t *testing.T) {
	cfg, err := Load([]string{"--config", "../../deploy/agent.yaml"}, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Default().Tasks, cfg.Tasks, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("the example's tasks section is not the defaults (-default +example):\n%s", diff)
	}
}
