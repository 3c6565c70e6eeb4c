package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/agent/runner"
	"github.com/tether-edge/tether/broker/loadgen"
	"github.com/tether-edge/tether/broker/natsconf/natstest"
	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
	"github.com/tether-edge/tether/pkg/testenv/netns"
)

// haRegion is a region on a 3-node NATS cluster with highly available
// schedulers (ha.nats_url): each one a real `tether-broker serve`, all
// signing with the region's one key, which the first to act installs
// from its key file into the region's stream.
type haRegion struct {
	*natsRegion
	key, pub string
	// keyless are the holders started without the key file: they sign
	// with the key the region's stream holds.
	keyless map[string]bool
	// keyFiles are the holders started with a key file of their own
	// instead of key (a key the region does not hold).
	keyFiles map[string]string
	// hosts, when set, runs the cluster's nodes and the schedulers (named
	// by their holder) each in a network namespace of its own.
	hosts *netns.Net
}

// startHARegionOn starts the cluster, with users for nodes and an
// operator, but no scheduler; the cluster's nodes and the schedulers on
// hosts (nil: all on loopback).
func startHARegionOn(t *testing.T, nodes []string, hosts *netns.Net) *haRegion {
	t.Helper()
	r, _ := startHARegionWith(t, nodes, nil, hosts)
	return r
}

// startHARegionWith is startHARegionOn with users for the load
// generator's nodes too (sims, made in one `passwd import`), whose
// credentials it returns.
func startHARegionWith(t *testing.T, nodes, sims []string, hosts *netns.Net) (*haRegion, []loadgen.Credential) {
	t.Helper()
	oneCluster(t)
	s := newSiteHash(t, "bcrypt")
	for _, n := range append([]string{"operator"}, nodes...) {
		s.addUser(n)
	}
	var creds []loadgen.Credential
	if len(sims) > 0 {
		t0 := time.Now()
		creds = s.importUsers(sims)
		t.Logf("%d load-generator users made (bcrypt) in %v", len(sims), time.Since(t0).Round(10*time.Millisecond))
	}
	out, err := exec.Command(s.broker, "natsconf", "-f", s.creds, "--region", "default",
		"--scheduler", "tether-scheduler", "--monitor", "monitor", "--operator", "operator").Output()
	if err != nil {
		t.Fatalf("natsconf: %v", err)
	}
	var h natstest.Hosts
	if hosts != nil {
		h = hosts
	}
	r := &haRegion{natsRegion: &natsRegion{s: s, c: natstest.StartOn(t, "default", out, h)}, hosts: hosts}
	r.usePort(0)
	r.key = filepath.Join(s.dir, "scheduler.key")
	pub, err := exec.Command(s.broker, "keygen", "-o", r.key).Output()
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	r.pub = strings.TrimSpace(string(pub))
	return r, creds
}

// startScheduler runs a highly available scheduler named holder, listing
// the cluster's nodes from node first on. Each holder has a directory of
// its own (tasks.dir, and beside it blobs.dir), as on a machine of its own.
// Its self-probe runs every 10 s (15 s by default): a connection to a NATS
// node that stops delivering is left within 20–30 s, before the
// operator's second ask.
func (r *haRegion) startScheduler(holder string, first int) *proc {
	args := []string{"serve", "--password-file", filepath.Join(r.s.dir, "tether-scheduler.pw"),
		"--log-level", "debug", "--fleet-row-refresh", "1s", "--fleet-row-idle-refresh", "1s", "--ha-holder", holder,
		"--node-lost-grace", "3s", "--self-probe", "10s", "--tasks-dir", filepath.Join(r.s.dir, "sched-"+holder, "tasks")}
	switch f, own := r.keyFiles[holder]; {
	case own:
		args = append(args, "--signing-key-file", f)
	case !r.keyless[holder]:
		args = append(args, "--signing-key-file", r.key)
	}
	for _, u := range r.c.URLs(first) {
		args = append(args, "--mqtt-url", u)
	}
	for _, u := range r.c.ClientURLs(first) {
		args = append(args, "--ha-nats-url", u)
	}
	name := "tether-broker serve (" + holder + ")"
	if r.hosts != nil {
		args = append(args, "--http-listen", r.hosts.IP(holder)+":9883")
		return r.s.startCmd(name, r.hosts.Command(holder, r.s.broker, args...))
	}
	return r.s.start(name, r.s.broker, args...)
}

func (r *haRegion) startAgent(node string, extra ...string) *proc {
	args := []string{"--scheduler-key", r.pub}
	for _, u := range r.c.URLs(0) {
		args = append(args, "--broker", u)
	}
	return r.s.startAgent(node, append(args, extra...)...)
}

var (
	actingRE        = regexp.MustCompile(`msg="holding the region's lease: acting scheduler"`)
	keyInstalledRE  = regexp.MustCompile(`msg="signing key installed in the region from tasks.signing_key_file"`)
	keyFromRegionRE = regexp.MustCompile(`msg="signing key loaded from the region" component=tasks key=\S+`)
)

// acting waits until one of ps holds the lease and is ready, and returns it.
func acting(t *testing.T, within time.Duration, ps ...*proc) *proc {
	t.Helper()
	var got *proc
	ok := testenv.Within(within, func() bool {
		for _, p := range ps {
			if isActing(p) {
				got = p
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("no scheduler holds the region and is ready within %v", within)
	}
	return got
}

// isActing reports whether p runs, holds the region and is ready (an
// exited process's output still says what it was).
func isActing(p *proc) bool {
	select {
	case <-p.done:
		return false
	default:
	}
	out := p.out.String()
	return actingRE.MatchString(out) && schedulerReadyRE.MatchString(out)
}

// TestSchedulerFailover: two schedulers of one region on a 3-node NATS
// cluster, each NATS node and scheduler in a network namespace of its own
// (agents and the operator outside), one scheduler acting, one standing
// by; agents run checkpointable tasks, and beside them the load
// generator's sessions (broker/loadgen: simulated agents, each its own
// user, over the three nodes' MQTT listeners) report every second for the
// whole run. The acting scheduler is SIGKILLed mid-run, with an agent
// running checkpointable tasks: the standby takes over within 10 s (lease
// 5 s) and its view has every session online, every task succeeds exactly
// once with its correct output, the killed agent's checkpointable tasks
// resume from the checkpoints the dead scheduler stored, and no report an
// agent or session had acknowledged is lost (the schedulers' logs; for the
// sessions also the generator's persistent monitor, and the last
// scheduler's rows, which show each session offline after its graceful
// stop). The killed one, started again, stands by; then the acting one
// stops cleanly and hands over at once (it resigns). The tasks want the
// label pool=agents, which only the real agents have: the sessions run
// nothing. The short form runs 60 mixed tasks and six of 10 s on 3 agents
// beside 150 sessions; the long form (TETHER_CLUSTER=1, make cluster) 500
// mixed ones on 20 beside the same 150 (with 500 or 1,000 sessions and 20
// agents `tether-broker nodes` got no fleet within a minute on a 2-core
// machine: docs/benchmarks.md).
// Only sched-a has the signing key file: it installs the key in the
// region, and sched-b, which has none, signs with the region's key once
// it acts (the late task is assigned by it alone).
func TestSchedulerFailover(t *testing.T) {
	t.Parallel()
	// Sessions: see docs/benchmarks.md for what they cost the cluster;
	// their first connects are spread over ramp, as a region's restart
	// spreads its agents' (jittered backoff).
	n, agentsN, sims, ramp := 60, 3, 150, 3*time.Second
	if cluster() {
		n, agentsN, sims, ramp = 500, 20, 150, 3*time.Second
	}
	var nodes []string
	for i := range agentsN {
		nodes = append(nodes, fmt.Sprintf("pi-ha-%02d", i))
	}
	// pi-ha-late joins after the failover (uploadLateTask).
	r, creds := startHARegionWith(t, append(slices.Clone(nodes), "pi-ha-late"), loadNames(sims), netns.New(t, "nats-1", "nats-2", "nats-3", "sched-a", "sched-b"))
	r.keyless = map[string]bool{"sched-b": true}
	a := r.startScheduler("sched-a", 0)
	active := acting(t, time.Minute, a)
	if !keyInstalledRE.MatchString(a.out.String()) {
		t.Error("the first scheduler did not install its signing key in the region")
	}
	// The sessions connect while the standby starts.
	lg := r.startLoad(t, creds, ramp)
	b := r.startScheduler("sched-b", 1)
	waitOutput(b, regexp.MustCompile(`msg="standing by for the region's lease"`), 30*time.Second)
	op := newOperator(t, r.s)
	agents := map[string]*proc{}
	for _, node := range nodes {
		agents[node] = r.startAgent(node, "--task-slots", "3", "--sample-interval", "1s", "--label", "pool=agents")
	}
	r.waitOnline(nodes)
	lg.waitOnline(t, ramp+time.Minute)
	online := r.s.waitFleet(ramp+time.Minute, "every load-generator session online in the fleet view", func(m map[string]protocol.FleetNode) bool {
		for _, node := range lg.nodes {
			if !m[node].Online {
				return false
			}
		}
		return true
	})
	t.Logf("%d load-generator sessions online in the fleet view (the last %v after the agents were; load average %s)", sims, online.Round(10*time.Millisecond), loadavg())
	if actingRE.MatchString(b.out.String()) {
		t.Fatal("the standby acts while the first scheduler holds the region")
	}
	// Probes and Prometheus tell them apart.
	r.checkHTTP(t, "sched-a", 200, "ready", "tether_scheduler_acting 1")
	r.checkHTTP(t, "sched-b", 503, "standing by", "tether_scheduler_acting 0")

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	specs := mixedSpecs(rand.New(rand.NewPCG(seed, seed)), n)
	for i := range specs {
		specs[i].Checkpointable = true
	}
	pool := map[string]string{"pool": "agents"} // not the sessions'
	for i := range specs {
		specs[i].Constraints.Labels = pool
	}
	// The kill below wants a node running two checkpointable tasks with
	// progress. The mixed ones last 0.1–4 s: on a quiet host all 60 had
	// ended before one was seen (a CI run waited 3 min). Six of 10 s each,
	// two per agent, leave no doubt.
	for i := range 6 {
		specs = append(specs, task.Spec{ID: fmt.Sprintf("e2e-long-%d", i), Kind: task.KindBuiltin, Checkpointable: true, Retries: 2,
			Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 200, UnitMS: 50, CheckpointEvery: 5}, Work: 10,
			Constraints: task.Constraints{Labels: pool}})
	}
	byID := map[string]task.Spec{}
	for _, spec := range specs {
		byID[spec.ID] = spec
		if rep := op.submit(spec); !rep.OK || rep.Task != spec.ID {
			t.Fatalf("submit %s: %+v", spec.ID, rep)
		}
	}
	// An operator's upload, acknowledged by the acting scheduler, for a
	// task no agent can take before the failover (it wants the label
	// late=yes): the agent started after it fetches the input from the
	// successor, which never held it and restores it from the region's
	// blob bucket.
	late := r.uploadLateTask(t)
	// The acting scheduler dies together with an agent running
	// checkpointable tasks, which stays dead: its tasks can only resume
	// elsewhere, from the checkpoints the dead scheduler stored, read back
	// by its successor from the region's replicated stream (node_lost_grace
	// 3 s). The other agents' tasks run on through the failover.
	var victim string
	before := op.waitTasks(3*time.Minute, "an agent running two checkpointable tasks with checkpointed progress", func(m map[string]task.Status) bool {
		running := map[string]int{}
		for _, st := range m {
			if st.State == task.StateRunning && byID[st.Task].Checkpointable && st.Progress > 0 {
				running[st.Node]++
				if running[st.Node] >= 2 {
					victim = st.Node
					return true
				}
			}
		}
		return false
	})
	interrupted := map[string]int64{} // task → progress the scheduler had seen
	attemptAt := map[string]uint32{}  // task → its attempt then
	for id, st := range before {
		if st.Node == victim && st.State == task.StateRunning && byID[id].Checkpointable {
			interrupted[id], attemptAt[id] = st.Progress, st.Attempt
		}
	}
	killed := time.Now()
	active.signal(syscall.SIGKILL)
	agents[victim].signal(syscall.SIGKILL)
	<-active.done
	<-agents[victim].done
	t.Logf("SIGKILLed the acting scheduler and %s with %d checkpointable tasks running", victim, len(interrupted))
	acting(t, time.Minute, b)
	takeover := time.Since(killed)
	r.checkHTTP(t, "sched-b", 200, "ready", "tether_scheduler_acting 1")
	t.Logf("the standby took over and was ready %v after the kill (load average %s)", takeover.Round(10*time.Millisecond), loadavg())
	if takeover > 10*time.Second {
		t.Errorf("takeover took %v, want ≤ 10 s", takeover.Round(10*time.Millisecond))
	}
	seen := r.waitSeenSince(time.Minute, "every load-generator session online in the successor's view", killed, lg.nodes)
	t.Logf("the successor's view had every one of the %d sessions online, seen since the kill, %v after it was ready", sims, seen.Round(10*time.Millisecond))
	// The late task runs while the successor acts, before the killed
	// scheduler (whose blobs.dir holds the upload) is back.
	r.startAgent("pi-ha-late", "--label", "late=yes")
	late.check(t, op.waitTasks(2*time.Minute, "the late task ended", func(m map[string]task.Status) bool {
		return task.Terminal(m[late.id].State)
	}))
	if !keyFromRegionRE.MatchString(b.out.String()) {
		t.Error("the successor, which has no key file, did not log loading the signing key from the region")
	}
	if !strings.Contains(b.out.String(), `msg="task data restored from the region's blob bucket" component=scheduler blob=`+late.blob) {
		t.Errorf("the successor did not log restoring %s from the region's blob bucket", late.blob)
	}
	// The killed scheduler comes back as the standby; then the acting one
	// is restarted cleanly (SIGTERM, as a rolling upgrade does): it
	// resigns, and the standby takes over without waiting out the lease.
	a2 := r.startScheduler("sched-a", 2)
	waitOutput(a2, regexp.MustCompile(`msg="standing by for the region's lease"`), 30*time.Second)
	stopped := time.Now()
	b.signal(syscall.SIGTERM)
	if err := b.wait(t, 30*time.Second); err != nil {
		t.Errorf("the acting scheduler's clean stop: %v", err)
	}
	acting(t, time.Minute, a2)
	handover := time.Since(stopped)
	t.Logf("after a clean stop the standby was acting and ready %v later", handover.Round(10*time.Millisecond))
	if handover > 5*time.Second {
		t.Errorf("handover after a clean stop took %v, want < the lease (5 s): the stopping scheduler did not resign", handover.Round(10*time.Millisecond))
	}
	b2 := r.startScheduler("sched-b", 1)
	waitOutput(b2, regexp.MustCompile(`msg="standing by for the region's lease"`), 30*time.Second)

	final := op.waitTasks(8*time.Minute, "every task ended", everyEnded(len(specs)+1))
	checkOnce(t, specs, final)
	late.check(t, final)
	resumed := 0
	for _, spec := range specs {
		st := final[spec.ID]
		if st.State != task.StateSucceeded || st.Result == nil {
			continue // failed above
		}
		if last := st.Attempts[len(st.Attempts)-1]; !last.Ended.IsZero() && last.Ended.Before(killed) {
			delete(interrupted, spec.ID) // done before the kill
		}
		if seen, ok := interrupted[spec.ID]; ok {
			if st.Node == victim || st.Attempt == attemptAt[spec.ID] {
				t.Errorf("%s: ended in attempt %d on %s, but its node is dead: not moved", spec.ID, st.Attempt, st.Node)
			}
			from := spec.Builtin.Units - st.Result.WorkDone
			if from < seen {
				t.Errorf("%s: resumed from %d, but %d units had been checkpointed before the kill", spec.ID, from, seen)
			}
			if from > 0 {
				resumed++
			}
		}
	}
	t.Logf("%d tasks succeeded; %d of the %d interrupted checkpointable tasks resumed from a checkpoint", len(specs), resumed, len(interrupted))
	if len(interrupted) > 0 && resumed == 0 {
		t.Error("no interrupted task resumed from a checkpoint")
	}
	// The sessions stop gracefully, a goodbye each, and the generator
	// accounts for what the cluster acknowledged them.
	stopAt := time.Now()
	res := lg.stop(t)
	t.Logf("the load generator's %d sessions stopped and its views settled in %v; its monitor received %d of the %d reports acknowledged; the last scheduler's rows count %d gaps (its predecessors received those)",
		res.Sessions, time.Since(stopAt).Round(10*time.Millisecond), res.Acked-res.LostMonitor, res.Acked, res.Gaps)
	checkLoad(t, res)
	// Nothing a surviving agent had acknowledged is lost: every seq up to
	// the one the acting scheduler's view last shows reached one of the
	// region's schedulers (their debug logs name each counted message).
	// The successor's own view cannot know what its predecessor received
	// just before it died (it counts those as gaps); the logs can.
	rows := r.checkReceived(t, []*proc{a, b, a2, b2}, append(slices.Clone(nodes), lg.nodes...), victim)
	for _, node := range lg.nodes {
		if rows[node].Online {
			t.Errorf("%s: online in the last scheduler's view after its goodbye", node)
		}
	}
	for _, node := range nodes {
		if node != victim {
			t.Logf("%s: seq %d; the last scheduler's view counts %d gaps, %d missing (its predecessors received those)",
				node, rows[node].Seq, rows[node].Gaps, rows[node].Missing)
		}
	}
	if actingRE.MatchString(b2.out.String()) {
		t.Error("the restarted scheduler acts beside the one that took over")
	}
}

// lateTask is a task whose input an operator uploaded and which only an
// agent labelled late=yes can run.
type lateTask struct {
	id, sum, blob string
}

// uploadLateTask submits the late task with a 1 MiB input through the
// CLI, which returns once the acting scheduler acknowledged the upload.
func (r *haRegion) uploadLateTask(t *testing.T) lateTask {
	t.Helper()
	data := randomBytes(1<<20+3, 17)
	in := filepath.Join(r.s.dir, "late-input.bin")
	spec := filepath.Join(r.s.dir, "late.yaml")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	lt := lateTask{id: "late-input"}
	if err := os.WriteFile(spec, []byte("id: "+lt.id+"\nkind: builtin\nbuiltin: {name: sha256}\nconstraints: {labels: {late: \"yes\"}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(r.s.broker, "submit", "-f", spec, "--input", "data="+in, "--broker", r.s.url(),
		"--password-file", filepath.Join(r.s.dir, "operator.pw"), "--timeout", "30s")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil || !strings.Contains(errOut.String(), "uploaded data: "+blob.Of(data).String()) {
		t.Fatalf("submit --input: %v\n%s%s", err, out.String(), errOut.String())
	}
	h := sha256.Sum256(data)
	lt.sum = hex.EncodeToString(h[:])
	lt.blob = blob.Of(data).String()
	return lt
}

// check fails unless the late task succeeded on the late agent with its
// input's digest.
func (lt lateTask) check(t *testing.T, final map[string]task.Status) {
	t.Helper()
	st := final[lt.id]
	if st.State != task.StateSucceeded || st.Result == nil || st.Result.Output != lt.sum || st.Node != "pi-ha-late" {
		t.Errorf("%s, its input uploaded before the failover: %s on %q, result %+v, error %q; want succeeded on pi-ha-late with digest %s",
			lt.id, st.State, st.Node, st.Result, st.Error, lt.sum)
	}
}

var counted = regexp.MustCompile(`msg="node message".* node=(\S+) seq=(\d+)`)

// receivedHoles returns, for each node but skip, the seqs up to its row's
// Seq that no scheduler of ps logged receiving.
func receivedHoles(ps []*proc, nodes []string, skip string, rows map[string]protocol.FleetNode) map[string][]uint64 {
	got := map[string]map[uint64]bool{}
	for _, p := range ps {
		for _, m := range counted.FindAllStringSubmatch(p.out.String(), -1) {
			var seq uint64
			fmt.Sscan(m[2], &seq)
			if got[m[1]] == nil {
				got[m[1]] = map[uint64]bool{}
			}
			got[m[1]][seq] = true
		}
	}
	out := map[string][]uint64{}
	for _, node := range nodes {
		if node == skip {
			continue
		}
		if rows[node].Seq == 0 {
			out[node] = []uint64{0} // no row yet
			continue
		}
		for seq := uint64(1); seq <= rows[node].Seq; seq++ {
			if !got[node][seq] {
				out[node] = append(out[node], seq)
			}
		}
	}
	return out
}

// checkHTTP asks holder's /readyz and /metrics (on its namespace's address)
// and fails unless /readyz answers code with body containing ready and
// /metrics contains metric.
func (r *haRegion) checkHTTP(t *testing.T, holder string, code int, ready, metric string) {
	t.Helper()
	base := "http://" + r.hosts.IP(holder) + ":9883"
	var got string
	if !testenv.Within(10*time.Second, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			got = err.Error()
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got = fmt.Sprintf("%d %s", resp.StatusCode, b)
		if resp.StatusCode != code || !strings.Contains(string(b), ready) {
			return false
		}
		resp, err = http.Get(base + "/metrics")
		if err != nil {
			got = err.Error()
			return false
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		got = "metrics without " + metric
		return strings.Contains(string(b), metric)
	}) {
		t.Errorf("%s: /readyz or /metrics: %s; want %d %q and %q", holder, got, code, ready, metric)
	}
}

// waitOnline waits until every node is online in the scheduler's view.
func (r *haRegion) waitOnline(nodes []string) {
	r.s.waitFleet(60*time.Second, "every agent online", func(m map[string]protocol.FleetNode) bool {
		for _, node := range nodes {
			if !m[node].Online {
				return false
			}
		}
		return true
	})
}

// checkOnce fails for each spec that did not succeed exactly once with its
// correct output.
func checkOnce(t *testing.T, specs []task.Spec, final map[string]task.Status) {
	t.Helper()
	for _, spec := range specs {
		st := final[spec.ID]
		want, err := runner.BuiltinOutput(*spec.Builtin)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case st.State != task.StateSucceeded:
			t.Errorf("%s ended %s: %s (attempts %+v)", spec.ID, st.State, st.Error, st.Attempts)
		case st.Result == nil || st.Result.Output != want:
			t.Errorf("%s: result %+v, want output %s", spec.ID, st.Result, want)
		case appliedSuccesses(st) != 1:
			t.Errorf("%s: %d successes applied, want exactly one: %+v", spec.ID, appliedSuccesses(st), st.Attempts)
		}
	}
}

// checkReceived fails unless, within two minutes, every seq up to each
// node's (but skip's) row in the acting scheduler's view was logged
// received by one of scheds, and returns the rows.
func (r *haRegion) checkReceived(t *testing.T, scheds []*proc, nodes []string, skip string) map[string]protocol.FleetNode {
	t.Helper()
	var holes map[string][]uint64
	var rows map[string]protocol.FleetNode
	if !testenv.Within(2*time.Minute, func() bool {
		f, err := r.s.nodes()
		if err != nil {
			return false
		}
		rows = map[string]protocol.FleetNode{}
		for _, row := range f.Nodes {
			rows[row.Node] = row
		}
		holes = receivedHoles(scheds, nodes, skip, rows)
		return len(holes) == 0
	}) {
		t.Errorf("acknowledged messages reached no scheduler (node → seqs): %v", holes)
	}
	return rows
}

// everyEnded holds once the operator has n tasks' statuses, every one
// final.
func everyEnded(n int) func(map[string]task.Status) bool {
	return func(m map[string]task.Status) bool {
		if len(m) < n {
			return false
		}
		for _, st := range m {
			if !task.Terminal(st.State) {
				return false
			}
		}
		return true
	}
}
