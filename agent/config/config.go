// Package config is tether-agent's configuration: one struct, filled from
// defaults, then the config file, then TETHER_* environment variables, then
// flags (flags win), then validated with messages a user can act on.
// deploy/agent.yaml is the documented example.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/tether-edge/tether/agent/report"
	"github.com/tether-edge/tether/pkg/cliconf"
	"github.com/tether-edge/tether/pkg/logging"
	"github.com/tether-edge/tether/pkg/protocol"
)

// Config is everything tether-agent can be told.
type Config struct {
	// NodeID names the node in topics and is its MQTT client id and
	// username. Empty: derived from the board serial or machine-id (see
	// Identity), so cards flashed from one image stay distinct.
	NodeID string `yaml:"node_id"`
	Region string `yaml:"region"`
	// Brokers are tried in turn; tcp://HOST:1883 or tls://HOST:8883.
	Brokers []string `yaml:"brokers"`
	// Username defaults to the node id; the broker's ACL ties a node's
	// topics to it.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	TLS          TLS    `yaml:"tls"`

	Tier   string            `yaml:"tier"`
	Labels map[string]string `yaml:"labels"`
	// DataDir holds the agent's state; its filesystem's usage is reported.
	DataDir string `yaml:"data_dir"`

	// KeepAlive is the MQTT keepalive: a dead connection (power cut, lost
	// link) is noticed by the broker after 1.5× this.
	KeepAlive time.Duration `yaml:"keepalive"`
	// SampleInterval is how often resources are measured; a report is
	// sent only when a value moved past its threshold, or at Heartbeat.
	SampleInterval time.Duration `yaml:"sample_interval"`
	Heartbeat      time.Duration `yaml:"heartbeat"`
	// Thresholds say how far a value must move to be reported; see
	// docs/metrics.md. Their heartbeat is the Heartbeat above.
	Thresholds report.Thresholds `yaml:"thresholds"`
	// SendAll sends every sample, ignoring thresholds (for debugging and
	// comparisons: it multiplies uplink traffic).
	SendAll bool `yaml:"send_all"`

	// Outbox bounds what the agent keeps for the broker while it cannot
	// reach it; see docs/durability.md.
	Outbox Outbox `yaml:"outbox"`

	// Tasks configures running the tasks the scheduler assigns.
	Tasks Tasks `yaml:"tasks"`

	// Enrol: zero-touch enrolment with a site token (docs/protocol.md).
	Enrol Enrol `yaml:"enrol"`

	// Blobs bounds the task data the agent keeps in DataDir/blobs; see
	// docs/tasks.md (Task data: blobs).
	Blobs Blobs `yaml:"blobs"`

	// GCPercent is the Go collector's GOGC: the heap may grow this many
	// percent over what is live before a collection. Go's own floor is a
	// 4 MiB heap × GCPercent/100: 50 keeps an idle agent's heap near
	// 2 MiB (RSS ~1.3 MiB lower than 100) for a collection about every
	// 30 s at 1 s sampling, each well under a millisecond.
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimit is a soft limit on the Go runtime's memory, in bytes
	// (GOMEMLIMIT: heap, stacks and the runtime's own structures; not the
	// mapped executable nor the store's mapped files). Near it the
	// collector runs more often and returns freed memory to the kernel at
	// once, so a burst (a compaction's 2 MiB table builder, a big
	// checkpoint) does not leave the heap grown. 0: no limit. Too low
	// and it collects without pause: 8 MiB with GOGC 100 cost an idle
	// agent at 1 s sampling 0.57% of a core (the runtime counts the
	// memtable's 1.3 MiB arena, touched or not).
	MemoryLimit int64 `yaml:"memory_limit"`

	LogLevel  string `yaml:"log_level"`  // debug, info, warn, error
	LogFormat string `yaml:"log_format"` // text or json

	// PrintNodeID makes the agent print its node id and exit: what an
	// operator needs to create the node's credentials. Flag only.
	PrintNodeID bool `yaml:"-"`
	// PrintVersion makes the agent print its version and exit (--version).
	PrintVersion bool `yaml:"-"`
}

// TLS configures the connection to TLS brokers.
type TLS struct {
	CAFile   string `yaml:"ca_file"`   // CA that signed the broker's certificate; empty: system roots
	CertFile string `yaml:"cert_file"` // client certificate, for brokers that require mTLS
	KeyFile  string `yaml:"key_file"`
}

// Default returns the configuration used when nothing is set: enough with
// just a broker URL.
func Default() Config {
	return Config{
		Region:         "default",
		Brokers:        []string{"tcp://127.0.0.1:1883"},
		Tier:           protocol.TierEdge,
		DataDir:        "/var/lib/tether",
		KeepAlive:      30 * time.Second,
		SampleInterval: 5 * time.Second,
		Heartbeat:      60 * time.Second,
		Thresholds:     report.DefaultThresholds(),
		Outbox:         Outbox{MaxBytes: 8 << 20, MaxAge: 24 * time.Hour},
		Tasks:          defaultTasks(),
		Blobs:          Blobs{Quota: 1 << 30, Keep: 24 * time.Hour},
		GCPercent:      50,
		MemoryLimit:    12 << 20,
		LogLevel:       "info",
		LogFormat:      "text",
	}
}

// Validate checks the configuration. NodeID may still be empty here: it is
// derived after validation when unset.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.NodeID != "" {
		if err := protocol.ValidateID("node_id", c.NodeID); err != nil {
			add("%v", err)
		}
	}
	if err := protocol.ValidateID("region", c.Region); err != nil {
		add("%v", err)
	}
	if c.Outbox.MaxBytes < 64<<10 {
		add("outbox.max_bytes: %d is below 64 KiB", c.Outbox.MaxBytes)
	}
	if c.GCPercent < 10 || c.GCPercent > 1000 {
		add("gc_percent %d: use between 10 and 1000 (100 is Go's default)", c.GCPercent)
	}
	if c.MemoryLimit != 0 && c.MemoryLimit < 8<<20 {
		add("memory_limit %d: use 0 (none) or at least 8 MiB (8388608); below, the collector would run without pause", c.MemoryLimit)
	}
	if c.Blobs.Quota < 1<<20 {
		add("blobs.quota: %d is below 1 MiB", c.Blobs.Quota)
	}
	if c.Blobs.Keep != 0 && c.Blobs.Keep < time.Hour {
		add("blobs.keep: %v is below an hour (a transfer's blob must outlive it); 0 keeps everything", c.Blobs.Keep)
	}
	if c.Outbox.MaxAge < time.Minute {
		add("outbox.max_age: %v is below a minute", c.Outbox.MaxAge)
	}
	if len(c.Brokers) == 0 {
		add("brokers: none set; give one, e.g. --broker tcp://scheduler.local:1883")
	}
	for _, b := range c.Brokers {
		u, err := url.Parse(b)
		if err != nil || u.Host == "" {
			add("broker %q: write it as tcp://HOST:1883 or tls://HOST:8883", b)
			continue
		}
		switch u.Scheme {
		case "tcp", "mqtt", "tls", "ssl", "mqtts":
		default:
			add("broker %q: scheme %q is not one of tcp, mqtt, tls, ssl, mqtts", b, u.Scheme)
		}
	}
	if c.Password != "" && c.PasswordFile != "" {
		add("password and password_file are both set; keep one (password_file is safer)")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls.cert_file and tls.key_file go together; set both or neither")
	}
	if c.Tier != protocol.TierEdge && c.Tier != protocol.TierCloud {
		add("tier %q: use %q or %q", c.Tier, protocol.TierEdge, protocol.TierCloud)
	}
	for k, v := range c.Labels {
		if err := protocol.ValidateID("label key", k); err != nil {
			add("labels: %v", err)
		}
		if len(v) > protocol.MaxString {
			add("labels.%s: %d bytes, at most %d", k, len(v), protocol.MaxString)
		}
	}
	if c.DataDir == "" {
		add("data_dir is empty")
	}
	if c.KeepAlive < 2*time.Second || c.KeepAlive > 18*time.Hour {
		add("keepalive %v: use between 2s and 18h (MQTT's limit is 65535 s)", c.KeepAlive)
	}
	if c.SampleInterval < 100*time.Millisecond {
		add("sample_interval %v is below 100ms", c.SampleInterval)
	}
	if c.Heartbeat < c.SampleInterval {
		add("heartbeat %v is shorter than sample_interval %v", c.Heartbeat, c.SampleInterval)
	}
	if c.Heartbeat > protocol.MaxHeartbeat {
		add("heartbeat %v: at most %v, or the scheduler refuses the node's births", c.Heartbeat, protocol.MaxHeartbeat)
	}
	if len(c.Labels) > protocol.MaxLabels {
		add("labels: %d set, at most %d", len(c.Labels), protocol.MaxLabels)
	}
	if err := c.Thresholds.Validate(); err != nil {
		add("thresholds: %v", err)
	}
	c.Tasks.validate(add)
	if err := logging.Check(c.LogLevel, c.LogFormat); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Enrol configures zero-touch enrolment. With TokenFile set and no
// password (password unset, password_file missing or empty), the agent
// enrols with the token and writes the password it generated to
// password_file, or <data_dir>/agent.pw when that is unset.
type Enrol struct {
	TokenFile string `yaml:"token_file"`
	// Retry is how often the agent asks again while it waits (30 s).
	Retry time.Duration `yaml:"retry"`
}

// ResolvePassword returns the password, reading PasswordFile when set.
func (c *Config) ResolvePassword() (string, error) {
	return cliconf.Password(c.Password, c.PasswordFile)
}

// Outbox bounds the agent's durable outbox. Past MaxBytes, metrics are
// downsampled, then dropped oldest first; metrics older than MaxAge are
// dropped. Status and task events are never dropped. Losses are counted
// and reported with every metrics report (protocol.Outbox).
type Outbox struct {
	MaxBytes int64         `yaml:"max_bytes"` // default 8 MiB: ~3 h of 1 s reports
	MaxAge   time.Duration `yaml:"max_age"`   // default 24 h
}

// Blobs bounds the agent's blob store (task inputs and outputs).
type Blobs struct {
	// Quota is the most bytes of blobs kept: complete ones plus the full
	// size of every transfer in progress. Default 1 GiB; set what the
	// device's card can spare.
	Quota int64 `yaml:"quota"`
	// Keep is how long a blob no task in the journal refers to stays (an
	// input of a finished task, an output the scheduler fetched, data put
	// there by another program); the store is collected hourly. Default
	// 24h; 0 keeps everything until the quota stops new transfers.
	Keep time.Duration `yaml:"keep"`
}
