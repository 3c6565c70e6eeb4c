// Package config is `tether-broker serve`'s configuration: defaults, then
// the YAML file, then TETHER_* environment variables, then flags (flags
// win), then Validate. deploy/broker.yaml is the documented example.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/tether-edge/tether/pkg/cliconf"
	"github.com/tether-edge/tether/pkg/logging"
	"github.com/tether-edge/tether/pkg/protocol"
)

// Config is everything `tether-broker serve` can be told.
type Config struct {
	Region string `yaml:"region"`
	// MQTTURL selects an external broker (tcp://, tls://); repeat for
	// failover. Empty: run the embedded broker and connect to it.
	MQTTURL  []string `yaml:"mqtt_url"`
	Embedded Embedded `yaml:"embedded"`

	// Username is the scheduler's identity on the broker; the embedded
	// broker grants it the scheduler role.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// TLS for the scheduler's own connection to a TLS broker URL.
	TLS TLS `yaml:"tls"`

	KeepAlive time.Duration `yaml:"keepalive"`
	// SelfProbe is how often the scheduler checks that its connection
	// still carries its messages, with one sent to itself; after two in a
	// row do not come back within this interval, it connects to the next
	// broker (a cluster node can acknowledge messages it does not
	// deliver). 0 turns the probe off.
	SelfProbe time.Duration `yaml:"self_probe"`
	// OfflineGrace is added to a node's announced heartbeat before it is
	// declared offline.
	OfflineGrace time.Duration `yaml:"offline_grace"`
	// RedeliveryWindow: with an external broker, how long a node's
	// message the agent no longer holds is still awaited before it counts
	// as lost. A broker such as NATS redelivers a message the scheduler
	// did not acknowledge in time (its ack wait) behind newer ones, after
	// acknowledging it to the agent; a copy within the window is applied.
	// The embedded broker delivers in order and uses none.
	RedeliveryWindow time.Duration `yaml:"redelivery_window"`
	// FleetInterval is the shortest time between two publications of the
	// retained fleet summary and table.
	FleetInterval time.Duration `yaml:"fleet_interval"`
	// FleetRowRefresh is how long a node's fleet row whose changes are
	// measurements past their bands (CPU ±10 points, memory ±5, °C ±2,
	// missing and duplicate counts, the outbox's losses) waits before it
	// is published again (0: 60 fleet intervals, 1 min by default);
	// changes of state go out within a fleet interval. Shorter is fresher
	// rows and more monitor traffic (docs/protocol.md, Fleet rows).
	FleetRowRefresh time.Duration `yaml:"fleet_row_refresh"`
	// FleetRowIdleRefresh is how long a row whose only changes move with
	// every report (last seen, seq, readings within their bands) waits
	// (0: 5 row refreshes, 5 min by default).
	FleetRowIdleRefresh time.Duration `yaml:"fleet_row_idle_refresh"`
	// FleetRowBudget is the share, in percent, of the bytes of node
	// messages the scheduler receives that the fleet view's rows with
	// only new measurements may add for a monitor (at least 2 KiB/s);
	// due rows beyond it wait, oldest first. Changes of state are never
	// held. 0: no budget (default 8).
	FleetRowBudget float64 `yaml:"fleet_row_budget"`

	Tasks     Tasks     `yaml:"tasks"`
	Blobs     Blobs     `yaml:"blobs"`
	Placement Placement `yaml:"placement"`
	HTTP      HTTP      `yaml:"http"`
	// HomeAssistant: MQTT discovery of every node for Home Assistant.
	HomeAssistant HomeAssistant `yaml:"homeassistant"`
	// Enrol: zero-touch enrolment with site tokens (docs/security.md).
	Enrol Enrol `yaml:"enrol"`
	// HA: several schedulers for the region, one acting (ha.go).
	HA HA `yaml:"ha"`

	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`

	// GCPercent is the Go collector's GOGC: the heap may grow this many
	// percent over live data before a collection. A scheduler with its
	// embedded broker is mostly long-lived per-connection state, so Go's
	// default 100 makes the headroom the largest part of its resident
	// memory: at 10,000 node sessions 682 MB steady at 100, 519 MB at 50,
	// for 16.3 and 21.1 CPU-seconds a minute (docs/benchmarks.md, "An idle
	// connection's cost").
	GCPercent int `yaml:"gc_percent"`
}

// Embedded configures the built-in MQTT broker.
type Embedded struct {
	Listen          string   `yaml:"listen"`     // plain TCP; empty with tls_listen set: TLS only
	TLSListen       string   `yaml:"tls_listen"` // e.g. 0.0.0.0:8883
	CertFile        string   `yaml:"cert_file"`
	KeyFile         string   `yaml:"key_file"`
	ClientCAFile    string   `yaml:"client_ca_file"` // set: client certificates required (mTLS)
	CredentialsFile string   `yaml:"credentials_file"`
	MonitorUsers    []string `yaml:"monitor_users"`
	// OperatorUsers may also submit and cancel tasks (tether-broker
	// submit, cancel) and read their replies.
	OperatorUsers []string `yaml:"operator_users"`
	// MaxPendingWrites sizes each client's outbound queue (see
	// broker/mqttd.Options); 0 keeps the default.
	MaxPendingWrites int `yaml:"max_pending_writes"`
	// Limits that protect the broker from its clients (see
	// broker/mqttd.Options and docs/security.md); 0 keeps each default,
	// -1 lifts an unauthenticated-connection limit.
	ConnectTimeout            time.Duration `yaml:"connect_timeout"`
	MaxUnauthenticated        int           `yaml:"max_unauthenticated"`
	MaxUnauthenticatedPerAddr int           `yaml:"max_unauthenticated_per_address"`
	MaxClientPacketSize       int           `yaml:"max_client_packet_size"`
	MaxRetainedPerClient      int           `yaml:"max_retained_per_client"`
	MaxRetainedBytesPerClient int           `yaml:"max_retained_bytes_per_client"`
	MaxSubscriptionsPerClient int           `yaml:"max_subscriptions_per_client"`
}

// TLS configures a client-side TLS connection.
type TLS struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Region: "default",
		Embedded: Embedded{
			Listen:          "127.0.0.1:1883",
			CredentialsFile: "/etc/tether/credentials",
			MonitorUsers:    []string{"monitor"},
			OperatorUsers:   []string{"operator"},
		},
		Username:         "tether-scheduler",
		KeepAlive:        30 * time.Second,
		SelfProbe:        15 * time.Second,
		OfflineGrace:     15 * time.Second,
		RedeliveryWindow: 2 * time.Minute,
		FleetInterval:    time.Second,
		FleetRowBudget:   8,
		Tasks:            DefaultTasks(),
		Placement:        DefaultPlacement(),
		HomeAssistant:    HomeAssistant{Prefix: "homeassistant"},
		LogLevel:         "info",
		LogFormat:        "text",
		GCPercent:        50,
	}
}

// HTTP configures the scheduler's HTTP listener: Prometheus metrics
// (/metrics), liveness (/healthz) and readiness (/readyz).
type HTTP struct {
	// Listen is its address, e.g. 127.0.0.1:9883; empty: no listener.
	Listen string `yaml:"listen"`
	// PerNodeLimit caps the nodes with per-node series (0: 10,000;
	// negative: no cap); the fleet-wide aggregates always cover every node.
	PerNodeLimit int `yaml:"per_node_limit"`
	// Pprof also serves Go's profiles under /debug/pprof/ (heap,
	// goroutines, CPU): for diagnosing a scheduler's memory or CPU in
	// place. Off by default: a profile names internals and a CPU profile
	// costs while it runs, so keep the listener on a trusted address.
	Pprof bool `yaml:"pprof"`
}

// HomeAssistant configures Home Assistant MQTT discovery (opt-in): the
// scheduler publishes retained discovery configs for every node under
// Prefix, whose entities read the node's fleet row (docs/protocol.md).
type HomeAssistant struct {
	Discovery bool   `yaml:"discovery"`
	Prefix    string `yaml:"prefix"` // Home Assistant's discovery prefix ("homeassistant")
}

// Enrol configures zero-touch enrolment: File is the enrolment file
// `tether-broker enrol` writes (tokens, pending, approved and revoked
// nodes); empty: off. An enrolled node's password goes into the broker's
// password file: with the embedded broker embedded.credentials_file, which
// it then re-reads; with an external one (mqtt_url) CredentialsFile, the
// password file that broker reads (Mosquitto's password_file: the formats
// are one), after which ReloadCommand makes it re-read the file (e.g.
// [systemctl, reload, mosquitto]); the reply waits for the command.
type Enrol struct {
	File            string   `yaml:"file"`
	CredentialsFile string   `yaml:"credentials_file"`
	ReloadCommand   []string `yaml:"reload_command"`
}

// EnrolCredentials is the password file enrolled nodes are written to.
func (c *Config) EnrolCredentials() string {
	if c.UsesEmbedded() {
		return c.Embedded.CredentialsFile
	}
	return c.Enrol.CredentialsFile
}

// DiscoveryPrefix is the Home Assistant discovery prefix the embedded
// broker must let the scheduler publish under, or "" when discovery is off.
func (c *Config) DiscoveryPrefix() string {
	if !c.HomeAssistant.Discovery {
		return ""
	}
	return c.HomeAssistant.Prefix
}

// RowRefresh is FleetRowRefresh with its default applied.
func (c *Config) RowRefresh() time.Duration {
	if c.FleetRowRefresh > 0 {
		return c.FleetRowRefresh
	}
	return 60 * c.FleetInterval
}

// RowIdleRefresh is FleetRowIdleRefresh with its default applied.
func (c *Config) RowIdleRefresh() time.Duration {
	if c.FleetRowIdleRefresh > 0 {
		return c.FleetRowIdleRefresh
	}
	return 5 * c.RowRefresh()
}

// UsesEmbedded reports whether serve runs its own broker.
func (c *Config) UsesEmbedded() bool { return len(c.MQTTURL) == 0 }

// Validate checks the configuration with messages a user can act on.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := protocol.ValidateID("region", c.Region); err != nil {
		add("%v", err)
	}
	if c.GCPercent < 10 || c.GCPercent > 1000 {
		add("gc_percent %d: use between 10 and 1000 (100 is Go's default)", c.GCPercent)
	}
	if c.HomeAssistant.Discovery {
		if err := protocol.ValidateDiscoveryPrefix(c.HomeAssistant.Prefix); err != nil {
			add("homeassistant.prefix: %v", err)
		}
	}
	switch {
	case c.UsesEmbedded() && (c.Enrol.CredentialsFile != "" || len(c.Enrol.ReloadCommand) > 0):
		add("enrol.credentials_file and enrol.reload_command are for an external broker (mqtt_url); the embedded one uses embedded.credentials_file and re-reads it itself")
	case c.Enrol.File == "":
	case c.UsesEmbedded() && c.Embedded.CredentialsFile == "":
		add("enrol.file: enrolment writes nodes into the broker's password file: set embedded.credentials_file")
	case !c.UsesEmbedded() && (c.Enrol.CredentialsFile == "" || len(c.Enrol.ReloadCommand) == 0 || c.Enrol.ReloadCommand[0] == ""):
		add("enrol.file with mqtt_url: set enrol.credentials_file (the broker's password file, e.g. Mosquitto's password_file) and enrol.reload_command (what makes the broker re-read it, e.g. [systemctl, reload, mosquitto])")
	}
	c.validateHA(add)
	if c.HTTP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			add("http.listen %q: write it as HOST:PORT, e.g. 127.0.0.1:9883", c.HTTP.Listen)
		}
	}
	for _, u := range c.MQTTURL {
		p, err := url.Parse(u)
		if err != nil || p.Host == "" {
			add("mqtt_url %q: write it as tcp://HOST:1883 or tls://HOST:8883", u)
		}
	}
	if c.UsesEmbedded() {
		e := c.Embedded
		if e.Listen == "" && e.TLSListen == "" {
			add("embedded: neither listen nor tls_listen is set; the broker would accept nobody")
		}
		if e.TLSListen != "" && (e.CertFile == "" || e.KeyFile == "") {
			add("embedded.tls_listen needs cert_file and key_file (scripts/gen-certs.sh makes development ones)")
		}
		if e.CredentialsFile == "" {
			add("embedded.credentials_file is empty; create one with `tether-broker passwd -f FILE add USER`")
		}
	}
	if c.Username == "" {
		add("username is empty: the scheduler needs an identity on the broker")
	}
	if c.Password != "" && c.PasswordFile != "" {
		add("password and password_file are both set; keep one")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls.cert_file and tls.key_file go together")
	}
	if c.KeepAlive < 2*time.Second || c.KeepAlive > 18*time.Hour {
		add("keepalive %v: use between 2s and 18h (MQTT's limit is 65535 s)", c.KeepAlive)
	}
	if c.SelfProbe != 0 && (c.SelfProbe < time.Second || c.SelfProbe > time.Hour) {
		add("self_probe %v: use 0 (off) or between 1s and 1h", c.SelfProbe)
	}
	if c.OfflineGrace < 0 || c.OfflineGrace > 24*time.Hour {
		add("offline_grace %v: use between 0 and 24h", c.OfflineGrace)
	}
	if c.RedeliveryWindow < 0 || c.RedeliveryWindow > time.Hour {
		add("redelivery_window %v: use between 0 and 1h", c.RedeliveryWindow)
	}
	if c.FleetRowRefresh != 0 && (c.FleetRowRefresh < c.FleetInterval || c.FleetRowRefresh > time.Hour) {
		add("fleet_row_refresh %v: use between fleet_interval (%v) and 1h, or 0 for 60 fleet intervals", c.FleetRowRefresh, c.FleetInterval)
	}
	if c.FleetRowIdleRefresh != 0 && (c.FleetRowIdleRefresh < c.RowRefresh() || c.FleetRowIdleRefresh > 24*time.Hour) {
		add("fleet_row_idle_refresh %v: use between the row refresh (%v) and 24h, or 0 for 5 row refreshes", c.FleetRowIdleRefresh, c.RowRefresh())
	}
	if !(c.FleetRowBudget >= 0 && c.FleetRowBudget <= 100) {
		add("fleet_row_budget %v: use a percentage from 0 (no budget) to 100", c.FleetRowBudget)
	}
	if c.FleetInterval < 100*time.Millisecond || c.FleetInterval > time.Hour {
		add("fleet_interval %v: use between 100ms and 1h", c.FleetInterval)
	}
	c.Tasks.validate(add)
	c.Placement.validate(add)
	if c.Blobs.Quota < 0 {
		add("blobs.quota: %d is negative", c.Blobs.Quota)
	}
	if c.Blobs.Retention < 0 {
		add("blobs.retention %v: use 0 (keep a finished task's blobs as long as the task) or a duration such as 720h", c.Blobs.Retention)
	}
	if c.Blobs.NodeShare < 0 {
		add("blobs.node_share: %d is negative", c.Blobs.NodeShare)
	}
	if err := logging.Check(c.LogLevel, c.LogFormat); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ResolvePassword returns the password, reading PasswordFile when set.
func (c *Config) ResolvePassword() (string, error) {
	return cliconf.Password(c.Password, c.PasswordFile)
}
