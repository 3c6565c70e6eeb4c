package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tether-edge/tether/broker/loadgen"
	"github.com/tether-edge/tether/pkg/cliconf"
	"github.com/tether-edge/tether/pkg/logging"
)

const loadgenUsage = `Usage: tether-broker loadgen [flags] --nodes-file LIST
       tether-broker loadgen --table RESULT.json...

Runs a fleet of simulated agents against a region's broker: one real MQTT
session per node with its own credentials, speaking the agent protocol.
Phases: connect (a storm, or --ramp), --steady, with --drop a mass drop and
reconnect and --steady again, then a graceful stop of every node. A monitor
with a persistent session (as the scheduler's) checks that every message the
broker acknowledged reached it and the scheduler's fleet table. Prints one table row; exits non-zero when anything
acknowledged was lost.

LIST has one "NODE PASSWORD" a line, as 'tether-broker passwd import' prints
for users it made passwords for:

  seq -f 'lg-%05g' 10000 | tether-broker passwd -f creds import > nodes.txt

--table prints the rows of earlier runs' --result files as one table.

Flags:
`

func runLoadgen(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("tether-broker loadgen", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, loadgenUsage)
		fs.PrintDefaults()
	}
	var o loadgen.Options
	brokers := []string{"127.0.0.1:1883"}
	fs.Var(&cliconf.List{Dst: &brokers}, "broker", "broker host:port (plain TCP); several (repeated or comma-separated) are the listeners of one region, e.g. a NATS cluster's: node i dials the (i mod n)-th first and moves down the list as an agent does")
	fs.StringVar(&o.Region, "region", "default", "region")
	nodesFile := fs.String("nodes-file", "", `"NODE PASSWORD" lines: the simulated nodes`)
	sessions := fs.Int("sessions", 0, "use the first N nodes of the list (0: all)")
	fs.StringVar(&o.Monitor.User, "monitor-user", "monitor", "the stream checker's user: a monitor, or on the embedded broker the scheduler's (the broker waits for its session, not a monitor's)")
	monPw := fs.String("monitor-password-file", "", "file holding the monitor's password")
	checkPw := fs.String("check-password-file", "", "file holding --check-user's password")
	fs.StringVar(&o.Checker.User, "check-user", "", "user of the new monitor that counts retained statuses (default --monitor-user; Mosquitto needs another)")
	nodesUser := fs.String("nodes-user", "", "user for timing 'tether-broker nodes' (default --monitor-user)")
	fs.DurationVar(&o.Report, "report", 10*time.Second, "how often a node samples")
	fs.Float64Var(&o.ChangeRate, "change-rate", 0.3, "chance a sample crosses a threshold and is sent")
	fs.DurationVar(&o.Heartbeat, "heartbeat", 30*time.Second, "longest a node stays silent")
	fs.DurationVar(&o.Ramp, "ramp", 0, "spread the first connects over this long (0: a connect storm)")
	fs.DurationVar(&o.Steady, "steady", 60*time.Second, "length of each steady state")
	fs.BoolVar(&o.Drop, "drop", true, "drop every connection at once after the steady state, and reconnect")
	fs.DurationVar(&o.Settle, "settle", 120*time.Second, "longest wait for the fleet to come online or settle")
	watch := fs.String("watch", "", "processes to measure: NAME=PID[,NAME=PID...]")
	nodesLatency := fs.String("nodes-password-file", "", "time 'tether-broker nodes' as the monitor with this password file")
	label := fs.String("label", "", "the run's name in the table (default: the broker address)")
	result := fs.String("result", "", "also write the result as JSON to this file")
	table := fs.Bool("table", false, "print the table of the --result files given as arguments")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := cliconf.ParseFlags(fs, args); err != nil {
		return err
	}
	if *table {
		return printLoadTable(env, fs.Args())
	}
	if *nodesFile == "" || fs.NArg() != 0 {
		cliconf.Hint(fs)
		return errors.New("usage: tether-broker loadgen --nodes-file LIST [flags]")
	}
	log, err := logging.New(env.Stderr, *logLevel, "text")
	if err != nil {
		return err
	}
	o.Logger, o.Broker, o.Brokers = log, brokers[0], brokers[1:]
	if o.Nodes, err = readNodeList(*nodesFile, *sessions); err != nil {
		return err
	}
	if *monPw != "" {
		if o.Monitor.Password, err = cliconf.ReadSecret(*monPw); err != nil {
			return err
		}
	}
	if *checkPw != "" {
		if o.Checker.Password, err = cliconf.ReadSecret(*checkPw); err != nil {
			return err
		}
	}
	if *nodesUser == "" {
		*nodesUser = o.Monitor.User
	}
	if o.Watch, err = parseWatch(*watch); err != nil {
		return err
	}
	if *nodesLatency != "" {
		o.NodesCommand = func(ctx context.Context) error {
			quiet := Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
			urls := make([]string, len(brokers))
			for i, b := range brokers {
				urls[i] = "tcp://" + b
			}
			return runNodes(ctx, quiet, []string{"--broker", strings.Join(urls, ","), "--region", o.Region,
				"--username", *nodesUser, "--password-file", *nodesLatency, "--timeout", "30s"})
		}
	}
	g, err := loadgen.New(o)
	if err != nil {
		return err
	}
	res, err := g.Run(ctx)
	if err != nil {
		return err
	}
	res.Label = *label
	if res.Label == "" {
		res.Label = strings.Join(brokers, ",")
	}
	if *result != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*result, b, 0o644); err != nil {
			return fmt.Errorf("result: %w", err)
		}
	}
	if err := loadgen.WriteTable(env.Stdout, []loadgen.Result{res}); err != nil {
		return err
	}
	if lost := res.Lost(); lost > 0 {
		return fmt.Errorf("%d acknowledged messages lost", lost)
	}
	return nil
}

func printLoadTable(env Env, files []string) error {
	var rs []loadgen.Result
	failed := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("table: %w", err)
		}
		var r loadgen.Result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("table %s: %w", f, err)
		}
		if r.Lost() > 0 {
			failed++
		}
		rs = append(rs, r)
	}
	if err := loadgen.WriteTable(env.Stdout, rs); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d runs lost acknowledged messages", failed, len(rs))
	}
	return nil
}

// readNodeList reads "NODE PASSWORD" lines; limit > 0 keeps the first ones.
func readNodeList(path string, limit int) ([]loadgen.Credential, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nodes file: %w", err)
	}
	defer f.Close()
	var out []loadgen.Credential
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan() && (limit <= 0 || len(out) < limit); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("nodes file %s:%d: want NODE PASSWORD", path, n)
		}
		out = append(out, loadgen.Credential{User: fields[0], Password: fields[1]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("nodes file: %w", err)
	}
	if limit > 0 && len(out) < limit {
		return nil, fmt.Errorf("nodes file %s has %d nodes, %d asked for", path, len(out), limit)
	}
	return out, nil
}

func parseWatch(s string) (map[string]int, error) {
	out := map[string]int{}
	if s == "" {
		return out, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		name, pid, ok := strings.Cut(item, "=")
		p, err := strconv.Atoi(pid)
		if !ok || err != nil || p <= 0 {
			return nil, fmt.Errorf("--watch %q: want NAME=PID", item)
		}
		out[name] = p
	}
	return out, nil
}
