package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tether-edge/tether/pkg/cliconf"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
)

// clientFlags are the connection flags of commands that talk to a broker.
type clientFlags struct {
	brokers      []string
	region       string
	username     string
	passwordFile string
	tlsCA        string
	tlsCert      string
	tlsKey       string
	timeout      time.Duration
}

func (c *clientFlags) register(fs *flag.FlagSet, env Env) {
	c.brokers = []string{"tcp://127.0.0.1:1883"}
	c.region, c.username, c.timeout = "default", "monitor", 5*time.Second
	_ = cliconf.Env{
		Strings: map[string]*string{"TETHER_REGION": &c.region, "TETHER_USERNAME": &c.username,
			"TETHER_PASSWORD_FILE": &c.passwordFile, "TETHER_TLS_CA": &c.tlsCA},
		Lists: map[string]*[]string{"TETHER_BROKER": &c.brokers},
	}.Apply(env.Getenv)
	fs.Var(&cliconf.List{Dst: &c.brokers}, "broker", "broker HOST:PORT or URL: tcp://HOST:1883, tls://HOST:8883 (TETHER_BROKER)")
	fs.StringVar(&c.region, "region", c.region, "region (TETHER_REGION)")
	fs.StringVar(&c.username, "username", c.username, "MQTT username; the monitor identity is enough (TETHER_USERNAME)")
	fs.StringVar(&c.passwordFile, "password-file", c.passwordFile, "file holding the password; TETHER_PASSWORD also works")
	fs.StringVar(&c.tlsCA, "tls-ca", c.tlsCA, "CA of a TLS broker (PEM)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "client certificate for mTLS (PEM)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "client key for mTLS (PEM)")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "how long to wait for the broker and the scheduler")
}

func (c *clientFlags) session(env Env) (*session.Session, protocol.Topics, error) {
	topics, err := protocol.NewTopics(c.region)
	if err != nil {
		return nil, topics, err
	}
	password := env.Getenv("TETHER_PASSWORD")
	if c.passwordFile != "" {
		pw, err := cliconf.ReadSecret(c.passwordFile)
		if err != nil {
			return nil, topics, err
		}
		password = pw
	}
	tc, err := session.TLSConfig(c.tlsCA, c.tlsCert, c.tlsKey)
	if err != nil {
		return nil, topics, err
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	s, err := session.New(session.Options{Brokers: c.brokers, ClientID: c.username + "@cli-" + hex.EncodeToString(id[:]),
		Username: c.username, Password: password, TLS: tc, CleanSession: true,
		ConnectTimeout: c.timeout, OpTimeout: c.timeout})
	return s, topics, err
}

func runNodes(ctx context.Context, env Env, args []string) error {
	if len(args) > 0 && (args[0] == "approve" || args[0] == "revoke" || args[0] == "pending") {
		return runNodesEnrol(env, args[0], args[1:])
	}
	fs := flag.NewFlagSet("tether-broker nodes", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, "Usage: tether-broker nodes [flags]\n\nPrints the fleet as the scheduler publishes it: its summary and every node's row,\n"+
			"retained on tether/v1/<region>/fleet/summary and tether/v1/<region>/fleet/nodes/<node>.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var cf clientFlags
	cf.register(fs, env)
	asJSON := fs.Bool("json", false, "print the fleet table as JSON")
	if err := cliconf.ParseFlags(fs, args); err != nil {
		return err
	}
	sess, topics, err := cf.session(env)
	if err != nil {
		return err
	}
	c := newRowCollector()
	if err := sess.Subscribe(ctx, topics.SchedulerStatus(), 1, c.onStatus); err != nil {
		return err
	}
	if err := sess.Subscribe(ctx, topics.FleetSummary(), 1, c.onSummary); err != nil {
		return err
	}
	quarantine := make(chan []byte, 1)
	if err := sess.Subscribe(ctx, topics.TaskQuarantine(), 1, func(m session.Message) {
		select {
		case quarantine <- m.Payload:
		default:
		}
	}); err != nil {
		return err
	}
	// QoS 0: the rows are retained and read once, so nothing waits for
	// acknowledgements; TCP paces the broker.
	if err := sess.Subscribe(ctx, topics.AllFleetRows(), 0, func(m session.Message) { c.onRow(topics, m) }); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	done := make(chan error, 1)
	runCtx, stop := context.WithCancel(context.Background())
	go func() { done <- sess.Run(runCtx) }()
	defer func() { stop(); <-done }()
	if err := awaitConnection(ctx, sess, &cf); err != nil {
		return err
	}

	fleet, complete, ok := c.wait(ctx)
	if !ok {
		return errors.New("no fleet summary on " + topics.FleetSummary() + ": is `tether-broker serve` running for region " + cf.region + "?")
	}
	warnIfSchedulerOffline(env, c)
	if !complete {
		fmt.Fprintf(env.Stderr, "warning: %d of the %d nodes the summary counts sent their row in time: the list is incomplete\n", len(fleet.Nodes), c.expected())
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(fleet)
	}
	if err := printNodes(env.Stdout, fleet, time.Now()); err != nil {
		return err
	}
	c.mu.Lock()
	wan := c.summary.WAN // wait returned a table: there is a summary
	c.mu.Unlock()
	printWAN(env.Stdout, wan)
	return printQuarantined(env.Stdout, quarantine, time.Now())
}

// warnIfSchedulerOffline says so when the retained view was left by a
// scheduler that is gone: its online states are then as it last saw them.
// The status is subscribed to first, so it has arrived with the rows.
func warnIfSchedulerOffline(env Env, c *rowCollector) {
	c.mu.Lock()
	st := c.status
	c.mu.Unlock()
	switch {
	case st == nil:
		fmt.Fprintln(env.Stderr, "warning: no scheduler status: the table may be stale")
	case st.State != protocol.StateOnline:
		fmt.Fprintf(env.Stderr, "warning: the scheduler is offline (%s since %s): this is the fleet as it last saw it\n",
			st.Reason, st.TS.Format(time.RFC3339))
	}
}

func printNodes(w io.Writer, f protocol.FleetNodes, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tARCH\tMODEL\tTIER\tVERSION\tSTATE\tCPU%\tMEM%\tTEMP\tRTT\tMBIT/S DOWN/UP\tLAST SEEN")
	for _, n := range f.Nodes {
		state := "online"
		if !n.Online {
			state = "offline"
			if n.Reason != "" {
				state += " (" + n.Reason + ")"
			}
		}
		if n.Duplicate {
			state += " DUPLICATE-ID"
		}
		if n.Throttled {
			state += " throttled"
		}
		if n.DiskFull {
			state += " DISK-FULL"
		}
		rtt, rate := "-", "-"
		if l := n.Link; l != nil {
			if l.RTTSamples > 0 {
				rtt = fmt.Sprintf("%.1fms", l.RTTMS)
			}
			if l.MbpsSamples > 0 || l.UpMbpsSamples > 0 {
				rate = mbps(l.Mbps, l.MbpsSamples) + "/" + mbps(l.UpMbps, l.UpMbpsSamples)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Node, dash(n.Arch), dash(n.Model), dash(n.Tier), dash(n.Version), state,
			num(n.CPU, "%.1f"), num(n.MemPct, "%.1f"), num(n.TempC, "%.1f°C"), rtt, rate, ago(n.LastSeen, now))
	}
	if len(f.Nodes) == 0 {
		fmt.Fprintln(tw, "(no nodes yet)")
	}
	return tw.Flush()
}

// printWAN prints the site's WAN as placement uses it, if the summary
// has it (a scheduler older than the field does not).
func printWAN(w io.Writer, l *protocol.WANLink) {
	if l == nil {
		return
	}
	m := l.Measured
	if m == nil {
		m = &protocol.LinkEstimate{}
	}
	fmt.Fprintf(w, "\nWAN (placement): round trip %.1fms, down %.1f Mbit/s, up %.1f Mbit/s", l.RTTMS, l.DownMbps, l.UpMbps)
	if m.UpMbpsSamples == 0 {
		fmt.Fprint(w, " (configured)")
	}
	var parts []string
	if m.RTTSamples > 0 {
		parts = append(parts, fmt.Sprintf("%.1fms over %d probes", m.RTTMS, m.RTTSamples))
	}
	if m.MbpsSamples > 0 {
		parts = append(parts, fmt.Sprintf("down %.1f Mbit/s over %d transfers", m.Mbps, m.MbpsSamples))
	}
	if m.UpMbpsSamples > 0 {
		parts = append(parts, fmt.Sprintf("up %.1f Mbit/s over %d transfers", m.UpMbps, m.UpMbpsSamples))
	}
	if len(parts) == 0 {
		fmt.Fprintln(w, "; not measured yet: as configured")
		return
	}
	fmt.Fprintf(w, "; measured %s\n", strings.Join(parts, ", "))
}

// mbps is a measured rate for the table: "-" without samples.
func mbps(v float64, samples uint64) string {
	if samples == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func num(p *float64, format string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf(format, *p)
}

func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String() + " ago"
}
