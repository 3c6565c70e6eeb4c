package config

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tether-edge/tether/pkg/cliconf"
)

// Load builds the configuration from defaults, the file named by --config
// (or TETHER_CONFIG), the environment (getenv) and the flags in args. It
// returns flag.ErrHelp after printing usage for -h/--help.
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
	if err := applyEnv(&cfg, getenv); err != nil {
		return Config{}, err
	}
	fs := flagSet(&cfg, usage)
	if err := cliconf.ParseFlags(fs, args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	return cfg, nil
}

// applyEnv applies the TETHER_* variables; docs/configuration.md lists them.
func applyEnv(cfg *Config, getenv func(string) string) error {
	err := cliconf.Env{
		Strings: map[string]*string{
			"TETHER_NODE_ID": &cfg.NodeID, "TETHER_REGION": &cfg.Region, "TETHER_USERNAME": &cfg.Username,
			"TETHER_PASSWORD": &cfg.Password, "TETHER_PASSWORD_FILE": &cfg.PasswordFile, "TETHER_TIER": &cfg.Tier,
			"TETHER_DATA_DIR": &cfg.DataDir, "TETHER_TLS_CA": &cfg.TLS.CAFile, "TETHER_TLS_CERT": &cfg.TLS.CertFile,
			"TETHER_TLS_KEY": &cfg.TLS.KeyFile, "TETHER_LOG_LEVEL": &cfg.LogLevel, "TETHER_LOG_FORMAT": &cfg.LogFormat,
			"TETHER_TASK_WORKDIR": &cfg.Tasks.Workdir,
		},
		Lists: map[string]*[]string{"TETHER_BROKER": &cfg.Brokers, "TETHER_TASK_ALLOW": &cfg.Tasks.Allow,
			"TETHER_SCHEDULER_KEYS": &cfg.Tasks.SchedulerKeys},
		Durations: map[string]*time.Duration{
			"TETHER_KEEPALIVE": &cfg.KeepAlive, "TETHER_SAMPLE_INTERVAL": &cfg.SampleInterval, "TETHER_HEARTBEAT": &cfg.Heartbeat,
		},
		Bools: map[string]*bool{"TETHER_SEND_ALL": &cfg.SendAll},
	}.Apply(getenv)
	if err != nil {
		return err
	}
	if v := getenv("TETHER_GC_PERCENT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("TETHER_GC_PERCENT %q: not a whole number", v)
		}
		cfg.GCPercent = n
	}
	if v := getenv("TETHER_MEMORY_LIMIT"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("TETHER_MEMORY_LIMIT %q: not a whole number of bytes", v)
		}
		cfg.MemoryLimit = n
	}
	if v := getenv("TETHER_TASK_SLOTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("TETHER_TASK_SLOTS %q: not a whole number", v)
		}
		cfg.Tasks.Slots = n
	}
	if v := getenv("TETHER_LABELS"); v != "" {
		cfg.Labels = map[string]string{}
		for _, kv := range strings.Split(v, ",") {
			if err := addLabel(cfg.Labels, kv); err != nil {
				return fmt.Errorf("TETHER_LABELS: %w", err)
			}
		}
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
	fs.Var(&cliconf.List{Dst: &cfg.Brokers}, "broker", "broker URL, tcp://HOST:1883 or tls://HOST:8883; repeat for failover")
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
	fs.IntVar(&cfg.Tasks.Slots, "task-slots", cfg.Tasks.Slots, "tasks run at once (0: one per core)")
	fs.Var(&cliconf.List{Dst: &cfg.Tasks.Allow}, "task-allow", "absolute path of a command exec tasks may run; repeatable")
	fs.Var(&cliconf.List{Dst: &cfg.Tasks.SchedulerKeys}, "scheduler-key", "scheduler's ed25519 public key (base64) that signs assignments; repeatable")
	fs.StringVar(&cfg.Tasks.Workdir, "task-workdir", cfg.Tasks.Workdir, "directory for exec tasks' attempt directories (default <data-dir>/tasks)")
	fs.IntVar(&cfg.GCPercent, "gc-percent", cfg.GCPercent, "Go collector's GOGC: heap growth over live data before a collection, in percent")
	fs.Int64Var(&cfg.MemoryLimit, "memory-limit", cfg.MemoryLimit, "soft limit on the Go runtime's memory in bytes (GOMEMLIMIT); 0: none")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "text or json")
	fs.BoolVar(&cfg.PrintNodeID, "print-node-id", false, "print the node id (configured or derived) and exit")
	fs.BoolVar(&cfg.PrintVersion, "version", false, "print the agent's version and exit")
	return fs
}
