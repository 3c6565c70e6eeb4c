package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/loadgen"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/testenv"
)

// importUsers creates a user for each of names with the real
// `tether-broker passwd import` (one run, its hashes made in parallel)
// and returns their generated credentials.
func (s *site) importUsers(names []string) []loadgen.Credential {
	s.t.Helper()
	args := []string{"passwd", "-f", s.creds}
	if s.hash != "" {
		args = append(args, "--hash", s.hash)
	}
	cmd := exec.Command(s.broker, append(args, "import")...)
	cmd.Stdin = strings.NewReader(strings.Join(names, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("passwd import of %d users: %v", len(names), err)
	}
	var creds []loadgen.Credential
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		user, pw, ok := strings.Cut(line, " ")
		if !ok {
			s.t.Fatalf("passwd import printed %q, want NODE PASSWORD", line)
		}
		creds = append(creds, loadgen.Credential{User: user, Password: pw})
	}
	if len(creds) != len(names) {
		s.t.Fatalf("passwd import printed %d credentials for %d users", len(creds), len(names))
	}
	return creds
}

// loadNames are the load generator's node ids: lg-00000 on.
func loadNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("lg-%05d", i)
	}
	return out
}

// loadSessions is the load generator (broker/loadgen) run in-process
// beside a region's real agents: one MQTT session per node, each with
// its own credentials, spread over the cluster's MQTT listeners, speaking
// the agent protocol until stop. Its stream monitor is the region's
// monitor user, with a persistent session.
type loadSessions struct {
	g      *loadgen.Generator
	nodes  []string
	until  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	res    loadgen.Result
	err    error
}

// startLoad starts a generator for creds, their first connects spread over
// ramp. Its sessions report every second, a heartbeat at least every 5 s.
// At the test's end a generator still running is cancelled.
func (r *haRegion) startLoad(t *testing.T, creds []loadgen.Credential, ramp time.Duration) *loadSessions {
	t.Helper()
	l := &loadSessions{until: make(chan struct{}), done: make(chan struct{})}
	for _, c := range creds {
		l.nodes = append(l.nodes, c.User)
	}
	g, err := loadgen.New(loadgen.Options{Brokers: r.c.MQTT[:], Nodes: creds,
		Monitor: loadgen.Credential{User: "monitor", Password: r.s.password("monitor")},
		Report:  time.Second, Heartbeat: 5 * time.Second, Ramp: ramp, Settle: 2 * time.Minute, Until: l.until,
		Logger: testenv.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	l.g = g
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() {
		defer close(l.done)
		l.res, l.err = g.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-l.done })
	return l
}

// waitOnline waits until every session's birth is acknowledged.
func (l *loadSessions) waitOnline(t *testing.T, within time.Duration) {
	t.Helper()
	testenv.Eventually(t, within, fmt.Sprintf("%d load-generator sessions online", len(l.nodes)), func() bool {
		return l.g.Online() == len(l.nodes)
	})
}

// stop stops every session gracefully (a goodbye each) and waits for the
// generator to settle and account, within its Settle waits.
func (l *loadSessions) stop(t *testing.T) loadgen.Result {
	t.Helper()
	close(l.until)
	select {
	case <-l.done:
	case <-time.After(5 * time.Minute):
		t.Fatal("the load generator did not stop within 5 minutes")
	}
	if l.err != nil {
		t.Fatalf("load generator: %v", l.err)
	}
	l.res.Label = "nats (ha)"
	var b strings.Builder
	loadgen.WriteTable(&b, []loadgen.Result{l.res})
	t.Logf("load generator:\n%s", b.String())
	return l.res
}

// checkLoad fails unless the generator's accounting holds after its
// graceful stop: every session acknowledged its birth and its goodbye,
// the monitor's persistent session received every report the cluster
// acknowledged, and the acting scheduler's view has a row for every
// session, at or past its last acknowledged seq, offline after its
// goodbye. The scheduler's own gap count is not asserted here: a
// successor counts what its predecessor received before it died as gaps
// (checkReceived reads the schedulers' logs for those).
func checkLoad(t *testing.T, res loadgen.Result) {
	t.Helper()
	if res.StormClient < 0 || res.StormFleet < 0 {
		t.Errorf("load generator: its sessions were not all online (births acknowledged %v, in the fleet rows %v)", res.StormClient, res.StormFleet)
	}
	if res.Made == 0 || res.Acked == 0 {
		t.Errorf("load generator: %d reports made, %d acknowledged; want some", res.Made, res.Acked)
	}
	if res.LostMonitor != 0 || res.MissingRows != 0 || res.Behind != 0 || res.GoodbyesLost != 0 {
		t.Errorf("load generator: acknowledged reports lost to the monitor %d; rows missing %d; seqs behind the acknowledged %d; goodbyes not applied %d",
			res.LostMonitor, res.MissingRows, res.Behind, res.GoodbyesLost)
	}
	if res.Goodbyes != res.Sessions {
		t.Errorf("load generator: %d of %d goodbyes acknowledged and in the rows", res.Goodbyes, res.Sessions)
	}
}

// waitSeenSince waits until the fleet view shows each of nodes online and
// seen after t0: its row was published after t0, so by a scheduler acting
// then.
func (r *haRegion) waitSeenSince(within time.Duration, what string, t0 time.Time, nodes []string) time.Duration {
	return r.s.waitFleet(within, what, func(m map[string]protocol.FleetNode) bool {
		for _, node := range nodes {
			if row := m[node]; !row.Online || !row.LastSeen.After(t0) {
				return false
			}
		}
		return true
	})
}
