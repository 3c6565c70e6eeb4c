package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load builds the configuration from defaults, the file named by --config
// (or TETHER_CONFIG), the environment (getenv) and the flags in args. It
// returns flag.ErrHelp after printing usage for -h/--help.
func Load(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	cfg := Default()
	path := getenv("TETHER_CONFIG")
	if p, ok := findConfigFlag(args); ok {
		path = p
	}
	if path != "" {
		if err := loadFile(path, &cfg); err != nil {
			return Config{}, err
		}
	}
	if err := applyEnv(&cfg, getenv); err != nil {
		return Config{}, err
	}
	fs := flagSet(&cfg, usage)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	return cfg, nil
}

func loadFile(path string, cfg *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a misspelt key is an error, not a silent default
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// findConfigFlag finds --config before the flags are parsed, so the file
// can be read first and flags still win over it.
func findConfigFlag(args []string) (string, bool) {
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasVal {
			return val, true
		}
		if i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// env lists the TETHER_* variables; docs/configuration.md mirrors it.
func applyEnv(cfg *Config, getenv func(string) string) error {
	str := map[string]*string{
		"TETHER_NODE_ID": &cfg.NodeID, "TETHER_REGION": &cfg.Region, "TETHER_USERNAME": &cfg.Username,
		"TETHER_PASSWORD": &cfg.Password, "TETHER_PASSWORD_FILE": &cfg.PasswordFile, "TETHER_TIER": &cfg.Tier,
		"TETHER_DATA_DIR": &cfg.DataDir, "TETHER_TLS_CA": &cfg.TLS.CAFile, "TETHER_TLS_CERT": &cfg.TLS.CertFile,
		"TETHER_TLS_KEY": &cfg.TLS.KeyFile, "TETHER_LOG_LEVEL": &cfg.LogLevel, "TETHER_LOG_FORMAT": &cfg.LogFormat,
	}
	for k, p := range str {
		if v := getenv(k); v != "" {
			*p = v
		}
	}
	if v := getenv("TETHER_BROKER"); v != "" {
		cfg.Brokers = strings.Split(v, ",")
	}
	if v := getenv("TETHER_LABELS"); v != "" {
		cfg.Labels = map[string]string{}
		for _, kv := range strings.Split(v, ",") {
			if err := addLabel(cfg.Labels, kv); err != nil {
				return fmt.Errorf("TETHER_LABELS: %w", err)
			}
		}
	}
	durs := map[string]*time.Duration{
		"TETHER_KEEPALIVE": &cfg.KeepAlive, "TETHER_SAMPLE_INTERVAL": &cfg.SampleInterval, "TETHER_HEARTBEAT": &cfg.Heartbeat,
	}
	for k, p := range durs {
		if v := getenv(k); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			*p = d
		}
	}
	if v := getenv("TETHER_SEND_ALL"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("TETHER_SEND_ALL: %w", err)
		}
		cfg.SendAll = b
	}
	return nil
}

func addLabel(m map[string]string, kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("label %q: write it as key=value", kv)
	}
	m[k] = v
	return nil
}

// listFlag collects a repeatable flag; the first use replaces the list
// from the file or environment.
type listFlag struct {
	dst *[]string
	set bool
}

func (l *listFlag) String() string {
	if l.dst == nil {
		return ""
	}
	return strings.Join(*l.dst, ",")
}

func (l *listFlag) Set(v string) error {
	if !l.set {
		*l.dst, l.set = nil, true
	}
	*l.dst = append(*l.dst, strings.Split(v, ",")...)
	return nil
}

type labelFlag struct{ dst *map[string]string }

func (l labelFlag) String() string { return "" }

func (l labelFlag) Set(v string) error {
	if *l.dst == nil {
		*l.dst = map[string]string{}
	}
	return addLabel(*l.dst, v)
}

func flagSet(cfg *Config, usage io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tether-agent", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() {
		fmt.Fprint(usage, "Usage: tether-agent [flags]\n\nReports this device's resources to a Tether scheduler over MQTT.\n"+
			"Settings come from defaults, then --config FILE, then TETHER_* variables, then flags.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.String("config", "", "YAML config file (see deploy/agent.yaml)")
	fs.StringVar(&cfg.NodeID, "node", cfg.NodeID, "node id (default: derived from the board serial or machine-id)")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "region (topic namespace)")
	fs.Var(&listFlag{dst: &cfg.Brokers}, "broker", "broker URL, tcp://HOST:1883 or tls://HOST:8883; repeat for failover")
	fs.StringVar(&cfg.Username, "username", cfg.Username, "MQTT username (default: the node id)")
	fs.StringVar(&cfg.PasswordFile, "password-file", cfg.PasswordFile, "file holding the MQTT password")
	fs.StringVar(&cfg.TLS.CAFile, "tls-ca", cfg.TLS.CAFile, "CA certificate of the broker (PEM)")
	fs.StringVar(&cfg.TLS.CertFile, "tls-cert", cfg.TLS.CertFile, "client certificate for mTLS (PEM)")
	fs.StringVar(&cfg.TLS.KeyFile, "tls-key", cfg.TLS.KeyFile, "client key for mTLS (PEM)")
	fs.StringVar(&cfg.Tier, "tier", cfg.Tier, "edge or cloud")
	fs.Var(labelFlag{dst: &cfg.Labels}, "label", "node label key=value; repeatable")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "state directory; its filesystem's usage is reported")
	fs.DurationVar(&cfg.KeepAlive, "keepalive", cfg.KeepAlive, "MQTT keepalive")
	fs.DurationVar(&cfg.SampleInterval, "sample-interval", cfg.SampleInterval, "how often resources are measured")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", cfg.Heartbeat, "longest silence: a report is sent at least this often")
	fs.BoolVar(&cfg.SendAll, "send-all", cfg.SendAll, "send every sample, ignoring change thresholds")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "text or json")
	return fs
}
