package config

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tether-edge/tether/broker/place/live"
	"github.com/tether-edge/tether/pkg/cliconf"
)

// Load builds serve's configuration from defaults, the file named by
// --config (or TETHER_CONFIG), TETHER_* variables and the flags in args.
func Load(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	cfg := Default()
	path := getenv("TETHER_CONFIG")
	if p, ok := cliconf.FindFlag(args, "config"); ok {
		path = p
	}
	if path != "" {
		if err := cliconf.ReadYAML(path, &cfg); err != nil {
			return Config{}, err
		}
	}
	err := cliconf.Env{
		Strings: map[string]*string{
			"TETHER_REGION": &cfg.Region, "TETHER_USERNAME": &cfg.Username, "TETHER_PASSWORD": &cfg.Password,
			"TETHER_PASSWORD_FILE": &cfg.PasswordFile, "TETHER_MQTT_LISTEN": &cfg.Embedded.Listen,
			"TETHER_MQTT_TLS_LISTEN": &cfg.Embedded.TLSListen, "TETHER_CREDENTIALS_FILE": &cfg.Embedded.CredentialsFile,
			"TETHER_LOG_LEVEL": &cfg.LogLevel, "TETHER_LOG_FORMAT": &cfg.LogFormat,
			"TETHER_TASKS_DIR": &cfg.Tasks.Dir, "TETHER_SIGNING_KEY_FILE": &cfg.Tasks.SigningKeyFile,
			"TETHER_PLACEMENT_POLICY": &cfg.Placement.Policy, "TETHER_HTTP_LISTEN": &cfg.HTTP.Listen,
		},
		Lists:     map[string]*[]string{"TETHER_MQTT_URL": &cfg.MQTTURL, "TETHER_HA_NATS_URL": &cfg.HA.NATSURL},
		Durations: map[string]*time.Duration{"TETHER_OFFLINE_GRACE": &cfg.OfflineGrace, "TETHER_REDELIVERY_WINDOW": &cfg.RedeliveryWindow},
		Bools:     map[string]*bool{"TETHER_HOMEASSISTANT_DISCOVERY": &cfg.HomeAssistant.Discovery},
	}.Apply(getenv)
	if err != nil {
		return Config{}, err
	}
	if v := getenv("TETHER_GC_PERCENT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return Config{}, fmt.Errorf("TETHER_GC_PERCENT %q: not a whole number", v)
		}
		cfg.GCPercent = n
	}
	fs := flag.NewFlagSet("tether-broker serve", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() {
		fmt.Fprint(usage, "Usage: tether-broker serve [flags]\n\nRuns the regional scheduler. Without --mqtt-url it embeds an MQTT broker,\n"+
			"so one process is a whole site. Settings: defaults, --config FILE, TETHER_* variables, flags.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.String("config", "", "YAML config file (see deploy/broker.yaml)")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "region served (topic namespace)")
	fs.Var(&cliconf.List{Dst: &cfg.MQTTURL}, "mqtt-url", "external broker URL (repeat for failover); unset: embedded broker")
	fs.Var(&cliconf.List{Dst: &cfg.HA.NATSURL}, "ha-nats-url", "the NATS cluster's core listener (repeat); set: run highly available, one of several schedulers of the region (docs/scaling.md)")
	fs.StringVar(&cfg.HA.Holder, "ha-holder", cfg.HA.Holder, "this scheduler's name in the region's lease (empty: the host name)")
	fs.StringVar(&cfg.Embedded.Listen, "listen", cfg.Embedded.Listen, "embedded broker's plain TCP address (empty: none)")
	fs.StringVar(&cfg.Embedded.TLSListen, "tls-listen", cfg.Embedded.TLSListen, "embedded broker's TLS address")
	fs.StringVar(&cfg.Embedded.CertFile, "tls-cert-file", cfg.Embedded.CertFile, "embedded broker's certificate (PEM)")
	fs.StringVar(&cfg.Embedded.KeyFile, "tls-key-file", cfg.Embedded.KeyFile, "embedded broker's key (PEM)")
	fs.StringVar(&cfg.Embedded.ClientCAFile, "client-ca-file", cfg.Embedded.ClientCAFile, "require client certificates signed by this CA (mTLS)")
	fs.StringVar(&cfg.Embedded.CredentialsFile, "credentials-file", cfg.Embedded.CredentialsFile, "embedded broker's password file (Mosquitto format)")
	fs.Var(&cliconf.List{Dst: &cfg.Embedded.MonitorUsers}, "monitor-user", "read-only monitor identity; repeatable")
	fs.Var(&cliconf.List{Dst: &cfg.Embedded.OperatorUsers}, "operator-user", "identity that may also submit and cancel tasks; repeatable")
	fs.StringVar(&cfg.Username, "username", cfg.Username, "the scheduler's MQTT username")
	fs.StringVar(&cfg.PasswordFile, "password-file", cfg.PasswordFile, "file holding the scheduler's MQTT password")
	fs.StringVar(&cfg.TLS.CAFile, "tls-ca", cfg.TLS.CAFile, "CA of an external TLS broker (PEM)")
	fs.StringVar(&cfg.TLS.CertFile, "tls-cert", cfg.TLS.CertFile, "client certificate for an external broker (PEM)")
	fs.StringVar(&cfg.TLS.KeyFile, "tls-key", cfg.TLS.KeyFile, "client key for an external broker (PEM)")
	fs.DurationVar(&cfg.KeepAlive, "keepalive", cfg.KeepAlive, "the scheduler's MQTT keepalive")
	fs.DurationVar(&cfg.SelfProbe, "self-probe", cfg.SelfProbe, "how often the scheduler checks its connection carries its messages, with one to itself (0: never)")
	fs.DurationVar(&cfg.OfflineGrace, "offline-grace", cfg.OfflineGrace, "added to a node's heartbeat before it is declared offline")
	fs.DurationVar(&cfg.RedeliveryWindow, "redelivery-window", cfg.RedeliveryWindow, "external broker: how long a message the agent no longer holds is awaited before it counts as lost")
	fs.DurationVar(&cfg.Placement.LinkProbe, "link-probe", cfg.Placement.LinkProbe, "how often each online node's round trip is measured (0: never)")
	fs.DurationVar(&cfg.FleetInterval, "fleet-interval", cfg.FleetInterval, "shortest time between fleet table publications")
	fs.DurationVar(&cfg.FleetRowRefresh, "fleet-row-refresh", cfg.FleetRowRefresh, "how long a fleet row whose readings moved past their bands waits to be published (0: 60 fleet intervals)")
	fs.Float64Var(&cfg.FleetRowBudget, "fleet-row-budget", cfg.FleetRowBudget, "percent of the node messages' bytes that fleet rows with only new measurements may add (at least 2 KiB/s); 0: no budget")
	fs.DurationVar(&cfg.FleetRowIdleRefresh, "fleet-row-idle-refresh", cfg.FleetRowIdleRefresh, "how long a fleet row with only last seen, seq and readings within their bands waits (0: 5 row refreshes)")
	fs.StringVar(&cfg.Tasks.Dir, "tasks-dir", cfg.Tasks.Dir, "directory of the task store")
	fs.StringVar(&cfg.Tasks.SigningKeyFile, "signing-key-file", cfg.Tasks.SigningKeyFile, "the scheduler's ed25519 signing key (PEM PKCS #8); none: tasks stay pending")
	fs.DurationVar(&cfg.Tasks.NodeLostGrace, "node-lost-grace", cfg.Tasks.NodeLostGrace, "how long a node may be offline before its tasks move")
	fs.StringVar(&cfg.Placement.Policy, "placement-policy", cfg.Placement.Policy, "policy for tasks whose spec names none: "+strings.Join(live.Names(), ", "))
	fs.BoolVar(&cfg.HomeAssistant.Discovery, "homeassistant-discovery", cfg.HomeAssistant.Discovery, "publish Home Assistant MQTT discovery configs for every node")
	fs.StringVar(&cfg.HTTP.Listen, "http-listen", cfg.HTTP.Listen, "HTTP address for /metrics, /healthz and /readyz, e.g. 127.0.0.1:9883 (empty: none)")
	fs.BoolVar(&cfg.HTTP.Pprof, "http-pprof", cfg.HTTP.Pprof, "also serve Go's profiles under /debug/pprof/ on the HTTP listener")
	fs.IntVar(&cfg.GCPercent, "gc-percent", cfg.GCPercent, "Go collector's GOGC: heap growth over live data before a collection, in percent")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "text or json")
	if err := cliconf.ParseFlags(fs, args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return cfg, nil
}
