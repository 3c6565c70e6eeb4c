package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
	"github.com/tether-edge/tether/pkg/testenv/netns"
)

// powerCut is what one cut takes down with the region's three NATS
// nodes: the acting scheduler, the standby, or neither (they then lose
// their connections and the acting one its lease).
type powerCut struct {
	what            string
	acting, standby bool
}

// TestRegionPowerCut: a highly available region (each NATS node and
// scheduler in a network namespace of its own, both schedulers supervised
// as systemd does) has all three NATS nodes SIGKILLed at once while
// agents report every second and run tasks, then started again on the
// stores the kill left. Checked after each cut: a scheduler acts again
// (epoch not below the one before; the one that acted lost its term and
// did not act on), with the key the region's stream held, read back, not
// installed again (the keyless standby signs with it, the other finds its
// own file the same). At the end: every task accepted before any cut, and
// those accepted after the last, succeeds exactly once with its correct
// output (the task store survived: tasks pending or running at a cut
// complete after it); the stream still holds the region's key; and
// every seq each agent made before the last cut — so every report and
// task event the engine had acknowledged it — was logged received by one
// of the region's schedulers (the same accounting as the other HA tests,
// up to each agent's row once it shows metrics taken after the cut).
// The short form cuts once, the acting scheduler SIGKILLed with the
// engine (3 agents, 20 tasks and 3 of 6 s, then 6 more); the long form
// (make cluster) cuts three times — the engine alone, with the acting
// scheduler, with both (the whole region) — on 10 agents, 150 + 3 tasks a
// cut.
func TestRegionPowerCut(t *testing.T) {
	t.Parallel()
	batch, agentsN := 20, 3
	cuts := []powerCut{{what: "the engine and the acting scheduler", acting: true}}
	if cluster() {
		batch, agentsN = 150, 10
		cuts = []powerCut{{what: "the engine alone"}, cuts[0],
			{what: "the whole region: the engine and both schedulers", acting: true, standby: true}}
	}
	var nodes []string
	for i := range agentsN {
		nodes = append(nodes, fmt.Sprintf("pi-cut-%02d", i))
	}
	began := time.Now()
	phase := func(what string) { t.Logf("%v: %s", time.Since(began).Round(100*time.Millisecond), what) }
	r := startHARegionOn(t, nodes, netns.New(t, "nats-1", "nats-2", "nats-3", "sched-a", "sched-b"))
	r.keyless = map[string]bool{"sched-b": true}
	regionKey, keyID := r.regionKeyID(t)
	sa := r.supervise(t, "sched-a", 0)
	actingOf(t, time.Minute, sa)
	sb := r.supervise(t, "sched-b", 1)
	waitOutput(sb.current(), standbyRE, 30*time.Second)
	runs := func() []*proc { return append(sa.all(), sb.all()...) }
	// A persistent session on every node: the statuses published while
	// the operator is away are kept for it.
	op := newOperatorOn(t, r.s, r.c.URLs(0), false)
	agents := map[string]*proc{}
	for _, node := range nodes {
		agents[node] = r.startAgent(node, "--task-slots", "2", "--sample-interval", "1s", "--send-all")
	}
	r.waitOnline(nodes)
	phase("cluster, schedulers and agents up")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	epoch := actingEpoch(sa.current())
	var specs []task.Spec
	var cut time.Time
	for round, c := range cuts {
		prefix := fmt.Sprintf("cut%d", round)
		specs = append(specs, r.submitAgain(t, op, prefix, cutSpecs(rng, prefix, batch), runs)...)
		// Tasks running at the cut, and others waiting: their events and
		// placements cross it.
		open := 0
		op.waitTasks(2*time.Minute, "tasks running before the cut", func(m map[string]task.Status) bool {
			running := 0
			open = 0
			for id, st := range m {
				if strings.HasPrefix(id, prefix) && !task.Terminal(st.State) {
					open++
					if st.State == task.StateRunning {
						running++
					}
				}
			}
			return running >= 2
		})
		was := actingOf(t, time.Minute, sa, sb)
		other := sb
		if was == sb {
			other = sa
		}
		lost := map[string]int{}
		for node, p := range agents {
			lost[node] = strings.Count(p.out.String(), "mqtt connection lost")
		}
		wasP := was.current()
		var victims []*proc
		if c.acting {
			victims = append(victims, wasP)
		}
		if c.standby {
			victims = append(victims, other.current())
		}
		cut = time.Now()
		for _, p := range victims {
			p.signal(syscall.SIGKILL)
		}
		r.c.KillAll()
		// Down until every agent lost its connection and the acting
		// scheduler, if it lives, its lease.
		if !testenv.Within(30*time.Second, func() bool {
			for node, p := range agents {
				if strings.Count(p.out.String(), "mqtt connection lost") <= lost[node] {
					return false
				}
			}
			return c.acting || leaseLostRE.MatchString(wasP.out.String())
		}) {
			t.Fatal("the engine's power cut was not noticed by every agent and the acting scheduler within 30 s")
		}
		down := time.Since(cut)
		for i := range 3 {
			r.c.Start(i)
		}
		for i := range 3 {
			r.c.WaitReady(i, 2*time.Minute)
		}
		ready := time.Since(cut)
		now := actingAfter(t, 2*time.Minute, cut, sa, sb)
		p := now.current()
		took := time.Since(cut)
		next := actingEpoch(p)
		phase(fmt.Sprintf("cut %d (%s, %d of the round's tasks open): engine down %v, every node ready %v after the cut, %s acting and ready %v after it, epoch %d → %d (load average %s)",
			round, c.what, open, down.Round(10*time.Millisecond), ready.Round(10*time.Millisecond), now.holder,
			took.Round(10*time.Millisecond), epoch, next, loadavg()))
		if open == 0 {
			t.Errorf("cut %d: no task of the round was open at the cut", round)
		}
		if next <= epoch {
			t.Errorf("cut %d: %s acts with epoch %d, the region's before the cut was %d", round, now.holder, next, epoch)
		}
		epoch = next
		out := p.out.String()
		if keyInstalledRE.MatchString(out) {
			t.Errorf("cut %d: %s installed a signing key after the cut: the region had lost its own", round, now.holder)
		}
		if !strings.Contains(out, "key="+keyID) || !(keyFromRegionRE.MatchString(out) || sameKeyRE.MatchString(out)) {
			t.Errorf("cut %d: %s did not log signing with the region's key %s", round, now.holder, keyID)
		}
	}
	// Placed and signed by the scheduler acting since the last cut.
	specs = append(specs, r.submitAgain(t, op, "after", cutSpecs(rng, "after", 6), runs)...)
	within := 3 * time.Minute
	if cluster() {
		within = 8 * time.Minute
	}
	final := op.waitTasks(within, "every task ended", everyEnded(len(specs)))
	checkOnce(t, specs, final)
	phase(fmt.Sprintf("%d tasks succeeded exactly once", len(specs)))
	if st := r.stream(t); !st.key.Equal(regionKey) || st.epoch != epoch {
		t.Errorf("the region's stream at the end: key %s, epoch %d; want key %s, epoch %d", keyIDOf(st.key), st.epoch, keyID, epoch)
	}
	r.checkReceivedSince(t, runs, nodes, cut)
	phase("every message made before the last cut received by a scheduler")
}

var (
	sameKeyRE  = regexp.MustCompile(`msg="signing key loaded; the region holds the same key"`)
	actingAtRE = regexp.MustCompile(`msg="holding the region's lease: acting scheduler".* epoch=(\d+)`)
)

// cutSpecs is n mixed tasks and three checkpointable ones of 6 s each,
// which are still running when the tasks before them have ended, their
// ids prefixed.
func cutSpecs(rng *rand.Rand, prefix string, n int) []task.Spec {
	specs := mixedSpecs(rng, n)
	for i := range specs {
		specs[i].ID = prefix + strings.TrimPrefix(specs[i].ID, "e2e")
	}
	for i := range 3 {
		specs = append(specs, task.Spec{ID: fmt.Sprintf("%s-long-%d", prefix, i), Kind: task.KindBuiltin, Checkpointable: true, Retries: 2,
			Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 120, UnitMS: 50, CheckpointEvery: 5}, Work: 6})
	}
	return specs
}

// actingEpoch is the epoch of p's last term (0: none).
func actingEpoch(p *proc) uint64 {
	m := actingAtRE.FindAllStringSubmatch(p.out.String(), -1)
	if len(m) == 0 {
		return 0
	}
	e, _ := strconv.ParseUint(m[len(m)-1][1], 10, 64)
	return e
}

// actingAfter waits until the current process of one of ss acts and is
// ready with a term it holds since after: started after it, or a process
// from before that did not lose its term at it.
func actingAfter(t *testing.T, within time.Duration, after time.Time, ss ...*supervised) *supervised {
	t.Helper()
	var got *supervised
	if !testenv.Within(within, func() bool {
		for _, s := range ss {
			if p := s.current(); isActing(p) && !leaseLostRE.MatchString(p.out.String()) {
				got = s
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no scheduler holds the region and is ready within %v of the power's return", within)
	}
	return got
}

// submitAgain submits specs with the prefix; a submission that gets no
// reply within 10 s is asked again (idempotent by task id) on a new
// connection, another node first: a NATS node that has just restarted
// can acknowledge a request or its reply and deliver neither
// (docs/scaling.md). After three asks the test fails, saying what became
// of the request. The operator's session, which a cut dropped, is
// connected again first.
func (r *haRegion) submitAgain(t *testing.T, op *operator, prefix string, specs []task.Spec, runs func() []*proc) []task.Spec {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := op.sess.WaitConnected(ctx); err != nil {
		t.Fatalf("the operator is not connected again within a minute: %v", err)
	}
	for _, spec := range specs {
		rep, id, ok := op.trySubmit(spec)
		for asked := 1; !ok; asked++ {
			if asked == 3 {
				r.whyNoReply(t, op, spec.ID, id, runs())
				t.Fatalf("no reply to the submission of %s, asked %d times, each on a new connection", spec.ID, asked)
			}
			t.Logf("no reply to the submission of %s (request %s) within 10 s: asking again on a new connection", spec.ID, id)
			op.reconnect(r.c.URLs(asked % len(r.c.MQTT)))
			rep, id, ok = op.trySubmit(spec)
		}
		if !rep.OK || rep.Task != spec.ID {
			t.Fatalf("submit %s (%s): %+v", spec.ID, prefix, rep)
		}
	}
	return specs
}

// checkReceivedSince fails unless, within two minutes, every node's row in
// the acting scheduler's view shows metrics taken after since (a seq
// above every one the node made before since, so above every one the
// engine had acknowledged it then) and every seq up to the row's was
// logged received by one of the region's schedulers (runs).
func (r *haRegion) checkReceivedSince(t *testing.T, runs func() []*proc, nodes []string, since time.Time) {
	t.Helper()
	var why string
	if !testenv.Within(2*time.Minute, func() bool {
		f, err := r.s.nodes()
		if err != nil {
			why = err.Error()
			return false
		}
		rows := map[string]protocol.FleetNode{}
		for _, row := range f.Nodes {
			rows[row.Node] = row
		}
		for _, node := range nodes {
			// The agents' clocks are the test's: 2 s covers the view's
			// estimate of their skew.
			if !rows[node].Measured.After(since.Add(2 * time.Second)) {
				why = fmt.Sprintf("%s: no metrics taken after the cut in the acting scheduler's view (row %+v)", node, rows[node])
				return false
			}
		}
		holes := receivedHoles(runs(), nodes, "", rows)
		why = fmt.Sprintf("acknowledged messages reached no scheduler (node → seqs): %v", holes)
		if len(holes) > 0 {
			return false
		}
		before := receivedBefore(runs(), since)
		for _, node := range nodes {
			t.Logf("%s: seqs 1–%d all received, up to %d before the cut", node, rows[node].Seq, before[node])
		}
		return true
	}) {
		t.Error(why)
	}
}

var countedAt = regexp.MustCompile(`(?m)^time=(\S+) .*msg="node message".* node=(\S+) seq=(\d+)`)

// receivedBefore returns, for each node, the highest seq one of ps logged
// receiving before at.
func receivedBefore(ps []*proc, at time.Time) map[string]uint64 {
	out := map[string]uint64{}
	for _, p := range ps {
		for _, m := range countedAt.FindAllStringSubmatch(p.out.String(), -1) {
			ts, err := time.Parse(time.RFC3339Nano, m[1])
			seq, _ := strconv.ParseUint(m[3], 10, 64)
			if err == nil && ts.Before(at) {
				out[m[2]] = max(out[m[2]], seq)
			}
		}
	}
	return out
}
