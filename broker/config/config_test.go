package config

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadLayers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.yaml")
	if err := os.WriteFile(path, []byte("region: eu-1\nembedded:\n  listen: 0.0.0.0:1883\n  credentials_file: /x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TETHER_REGION": "eu-2"}
	cfg, err := Load([]string{"--config", path, "--listen", "127.0.0.1:1999"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-2" || cfg.Embedded.Listen != "127.0.0.1:1999" || cfg.Embedded.CredentialsFile != "/x" {
		t.Fatalf("%+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !cfg.UsesEmbedded() {
		t.Fatal("no --mqtt-url but not embedded")
	}
}

// TestGCPercentLayers: gc_percent from the file, TETHER_GC_PERCENT over
// it, --gc-percent over both; a value that is not a number is an error.
func TestGCPercentLayers(t *testing.T) {
	if Default().GCPercent != 50 {
		t.Fatalf("default gc_percent %d, want 50", Default().GCPercent)
	}
	path := filepath.Join(t.TempDir(), "broker.yaml")
	if err := os.WriteFile(path, []byte("gc_percent: 80\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(env map[string]string, args ...string) (Config, error) {
		return Load(append([]string{"--config", path}, args...), func(k string) string { return env[k] }, io.Discard)
	}
	for _, c := range []struct {
		env  map[string]string
		args []string
		want int
	}{
		{nil, nil, 80},
		{map[string]string{"TETHER_GC_PERCENT": "120"}, nil, 120},
		{map[string]string{"TETHER_GC_PERCENT": "120"}, []string{"--gc-percent", "30"}, 30},
	} {
		cfg, err := load(c.env, c.args...)
		if err != nil || cfg.GCPercent != c.want {
			t.Errorf("env %v args %v: gc_percent %d, %v; want %d", c.env, c.args, cfg.GCPercent, err, c.want)
		}
	}
	if _, err := load(map[string]string{"TETHER_GC_PERCENT": "fifty"}); err == nil || !strings.Contains(err.Error(), "TETHER_GC_PERCENT") {
		t.Errorf("TETHER_GC_PERCENT=fifty: %v, want an error naming it", err)
	}
}

func TestValidateMessages(t *testing.T) {
	cases := map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"no listener":   {func(c *Config) { c.Embedded.Listen = "" }, "listen"},
		"tls no cert":   {func(c *Config) { c.Embedded.TLSListen = ":8883" }, "cert_file"},
		"no creds":      {func(c *Config) { c.Embedded.CredentialsFile = "" }, "passwd"},
		"bad url":       {func(c *Config) { c.MQTTURL = []string{"broker:1883"} }, "tcp://HOST"},
		"bad region":    {func(c *Config) { c.Region = "a/b" }, "region"},
		"no username":   {func(c *Config) { c.Username = "" }, "identity"},
		"tiny interval": {func(c *Config) { c.FleetInterval = 1 }, "fleet_interval"},
		"huge interval": {func(c *Config) { c.FleetInterval = 1 << 62 }, "fleet_interval"},
		// MQTT carries the keepalive in 16 bits of seconds: a longer one
		// would wrap.
		"keepalive past 65535 s":                 {func(c *Config) { c.KeepAlive = 65536 * time.Second }, "keepalive"},
		"offline_grace a year":                   {func(c *Config) { c.OfflineGrace = 365 * 24 * time.Hour }, "offline_grace"},
		"no tasks dir":                           {func(c *Config) { c.Tasks.Dir = "" }, "tasks.dir"},
		"budget over 100":                        {func(c *Config) { c.FleetRowBudget = 101 }, "fleet_row_budget"},
		"budget NaN":                             {func(c *Config) { c.FleetRowBudget = math.NaN() }, "fleet_row_budget"},
		"idle refresh under the refresh":         {func(c *Config) { c.FleetRowRefresh, c.FleetRowIdleRefresh = time.Minute, 30*time.Second }, "fleet_row_idle_refresh"},
		"idle refresh under the default refresh": {func(c *Config) { c.FleetRowIdleRefresh = 30 * time.Second }, "fleet_row_idle_refresh"},
		"enrol, external broker, no reload": {func(c *Config) {
			c.MQTTURL, c.Enrol.File, c.Enrol.CredentialsFile = []string{"tcp://127.0.0.1:1883"}, "/var/lib/tether/enrol.json", "/etc/mosquitto/creds"
		}, "enrol.reload_command"},
		"enrol, external broker, no file": {func(c *Config) {
			c.MQTTURL, c.Enrol.File, c.Enrol.ReloadCommand = []string{"tcp://127.0.0.1:1883"}, "/var/lib/tether/enrol.json", []string{"true"}
		}, "enrol.credentials_file"},
		"enrol reload, embedded": {func(c *Config) { c.Enrol.ReloadCommand = []string{"true"} }, "external broker"},
		"tiny grace":             {func(c *Config) { c.Tasks.NodeLostGrace = 0 }, "tasks.node_lost_grace"},
		"tiny ack":               {func(c *Config) { c.Tasks.AckTimeout = 0 }, "tasks.ack_timeout"},
		"expiry < ack":           {func(c *Config) { c.Tasks.AssignmentExpiry = 20 * time.Second }, "tasks.assignment_expiry"},
		"no backoff":             {func(c *Config) { c.Tasks.RetryBackoff = 0 }, "tasks.retry_backoff"},
		"cap < backoff":          {func(c *Config) { c.Tasks.RetryBackoffMax = time.Second }, "tasks.retry_backoff_max"},
		"no pending":             {func(c *Config) { c.Tasks.MaxPending = 0 }, "tasks.max_pending"},
		"no start":               {func(c *Config) { c.Tasks.StartTimeout = 0 }, "tasks.start_timeout"},
		"no progress":            {func(c *Config) { c.Tasks.ProgressTimeout = 0 }, "tasks.progress_timeout"},
		"no strikes":             {func(c *Config) { c.Tasks.QuarantineAfter = 0 }, "tasks.quarantine_after"},
		"no quarantine":          {func(c *Config) { c.Tasks.Quarantine = 0 }, "tasks.quarantine"},
		"slots":                  {func(c *Config) { c.Tasks.MaxSlotsPerNode = 0 }, "tasks.max_slots_per_node"},
		"per core":               {func(c *Config) { c.Tasks.SlotsPerCore = 0 }, "tasks.slots_per_core"},
		"speed":                  {func(c *Config) { c.Tasks.MaxSpeed = 0 }, "tasks.max_speed"},
		"bad pattern":            {func(c *Config) { c.Tasks.NodeLimits = []NodeLimit{{Match: "[", MaxSlots: 1}} }, "tasks.node_limits[0].match"},
		"gc_percent 0":           {func(c *Config) { c.GCPercent = 0 }, "gc_percent"},
		"gc_percent 5000":        {func(c *Config) { c.GCPercent = 5000 }, "gc_percent"},
	}
	for name, c := range cases {
		cfg := Default()
		c.mutate(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, c.want)
		}
	}
	ext := Default()
	ext.MQTTURL = []string{"tcp://mosquitto:1883"}
	ext.Embedded = Embedded{}
	if err := ext.Validate(); err != nil {
		t.Errorf("external broker without embedded settings: %v", err)
	}
}

func TestLoadTasks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.yaml")
	yaml := "tasks:\n  dir: /srv/tasks\n  signing_key_file: /etc/k.pem\n  ack_timeout: 5s\n  retry_backoff: 2s\n  retry_backoff_max: 1m\n" +
		"  start_timeout: 1m\n  progress_timeout: 2m\n  quarantine_after: 5\n  quarantine: 1h\n  max_pending: 100\n  max_slots_per_node: 8\n  slots_per_core: 2\n  max_speed: 3\n  node_limits:\n    - {match: gpu-*, max_slots: 64}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TETHER_SIGNING_KEY_FILE": "/etc/k2.pem"}
	cfg, err := Load([]string{"--config", path, "--node-lost-grace", "45s"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Tasks{Dir: "/srv/tasks", SigningKeyFile: "/etc/k2.pem", NodeLostGrace: 45 * time.Second, AckTimeout: 5 * time.Second,
		AssignmentExpiry: 10 * time.Minute, RetryBackoff: 2 * time.Second, RetryBackoffMax: time.Minute,
		StartTimeout: time.Minute, ProgressTimeout: 2 * time.Minute, QuarantineAfter: 5, Quarantine: time.Hour,
		MaxPending: 100, MaxSlotsPerNode: 8, SlotsPerCore: 2, MaxSpeed: 3, NodeLimits: []NodeLimit{{Match: "gpu-*", MaxSlots: 64}}}
	if !reflect.DeepEqual(cfg.Tasks, want) {
		t.Fatalf("tasks %+v, want %+v", cfg.Tasks, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestDeployExampleLoads keeps deploy/broker.yaml a valid configuration
// that sets every tasks key to its default but the signing key.
func TestDeployExampleLoads(t *testing.T) {
	cfg, err := Load([]string{"--config", "../../deploy/broker.yaml"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := DefaultTasks()
	want.SigningKeyFile = "/etc/tether/scheduler.key"
	if !reflect.DeepEqual(cfg.Tasks, want) {
		t.Fatalf("tasks %+v, want %+v", cfg.Tasks, want)
	}
}

func TestLoadEmbeddedLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.yaml")
	yaml := "embedded:\n  connect_timeout: 5s\n  max_unauthenticated: 200\n  max_unauthenticated_per_address: -1\n" +
		"  max_client_packet_size: 32768\n  max_retained_per_client: 2\n  max_retained_bytes_per_client: 65536\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load([]string{"--config", path}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Embedded
	if e.ConnectTimeout != 5*time.Second || e.MaxUnauthenticated != 200 || e.MaxUnauthenticatedPerAddr != -1 ||
		e.MaxClientPacketSize != 32768 || e.MaxRetainedPerClient != 2 || e.MaxRetainedBytesPerClient != 65536 {
		t.Fatalf("embedded %+v", e)
	}
}

// TestEnrolWithAnExternalBroker: enrolment behind Mosquitto is valid with
// the broker's password file and a reload command, and writes there.
func TestEnrolWithAnExternalBroker(t *testing.T) {
	c := Default()
	c.MQTTURL = []string{"tcp://127.0.0.1:1883"}
	c.Enrol = Enrol{File: "/var/lib/tether/enrol.json", CredentialsFile: "/etc/mosquitto/tether/credentials",
		ReloadCommand: []string{"systemctl", "reload", "mosquitto"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.EnrolCredentials(); got != "/etc/mosquitto/tether/credentials" {
		t.Errorf("enrolled nodes go to %q", got)
	}
}
