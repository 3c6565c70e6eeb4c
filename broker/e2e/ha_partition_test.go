package e2e

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv/netns"
)

var (
	leaseLostRE = regexp.MustCompile(`msg="region lease lost: stopping at once"`)
	standbyRE   = regexp.MustCompile(`msg="standing by for the region's lease"`)
	staleRE     = regexp.MustCompile(`task assignment refused: its epoch is stale`)
)

// TestSchedulerPartition: every NATS node and both schedulers each in a
// network namespace of its own, joined by veth links to one bridge (the
// agents and the operator in the test's namespace), so partitions are
// real: packets vanish, connections stay open.
//
//  1. The acting scheduler is cut off from everything (its veth down): it
//     stops acting within its lease (it cannot renew), exits deposed, and
//     the standby takes over. Its link comes back; started again, it
//     stands by.
//  2. The new acting scheduler is frozen (SIGSTOP, as in a long pause) mid-
//     run, so the other takes over; then it is thawed and lets itself try
//     whatever it was doing: its commits are fenced by the stream, its
//     assignments carry its old epoch, which agents refuse; it exits.
//
// Every task succeeds exactly once with its correct output, and every
// message the agents had acknowledged reached one of the schedulers. The
// short form runs 40 tasks on 3 agents; the long form (make cluster) 300
// on 20.
func TestSchedulerPartition(t *testing.T) {
	t.Parallel()
	n, agentsN := 40, 3
	if cluster() {
		n, agentsN = 300, 20
	}
	var nodes []string
	for i := range agentsN {
		nodes = append(nodes, fmt.Sprintf("pi-part-%02d", i))
	}
	began := time.Now()
	phase := func(what string) { t.Logf("%v: %s", time.Since(began).Round(100*time.Millisecond), what) }
	hosts := netns.New(t, "nats-1", "nats-2", "nats-3", "sched-a", "sched-b")
	r := startHARegionOn(t, nodes, hosts)
	a := r.startScheduler("sched-a", 0)
	acting(t, time.Minute, a)
	b := r.startScheduler("sched-b", 1)
	waitOutput(b, standbyRE, 30*time.Second)
	op := newOperator(t, r.s)
	agents := map[string]*proc{}
	for _, node := range nodes {
		agents[node] = r.startAgent(node, "--task-slots", "3", "--sample-interval", "1s")
	}
	r.waitOnline(nodes)
	phase("cluster, schedulers and agents up")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	specs := mixedSpecs(rand.New(rand.NewPCG(seed, seed)), n)
	for _, spec := range specs {
		if rep := op.submit(spec); !rep.OK || rep.Task != spec.ID {
			t.Fatalf("submit %s: %+v", spec.ID, rep)
		}
	}
	running := func(what string) {
		t.Helper()
		op.waitTasks(3*time.Minute, what, func(m map[string]task.Status) bool {
			k := 0
			for _, st := range m {
				if st.State == task.StateRunning {
					k++
				}
			}
			return k >= 2
		})
	}
	running("tasks running under sched-a")

	phase("tasks submitted and running")
	// 1. A partition.
	cut := time.Now()
	hosts.Isolate("sched-a")
	waitOutput(a, leaseLostRE, 30*time.Second)
	stopped := time.Since(cut)
	t.Logf("cut off, sched-a stopped acting %v later (lease 5 s)", stopped.Round(10*time.Millisecond))
	if stopped > 5*time.Second {
		t.Errorf("sched-a stopped acting %v after it was cut off, after its lease (5 s) could have ended", stopped.Round(10*time.Millisecond))
	}
	acting(t, time.Minute, b)
	t.Logf("sched-b acting and ready %v after the cut (load average %s)", time.Since(cut).Round(10*time.Millisecond), loadavg())
	if err := a.wait(t, time.Minute); err == nil || !strings.Contains(a.out.String(), "deposed") {
		t.Errorf("cut-off sched-a: exit %v, want a deposed scheduler's error", err)
	}
	hosts.Rejoin("sched-a")
	a2 := r.startScheduler("sched-a", 2)
	waitOutput(a2, standbyRE, 30*time.Second)

	phase("partition done")
	// 2. A frozen leader thawed after it was replaced. The first tasks may
	// all have ended by now (a loaded host makes the partition's phase
	// long): this phase brings its own, 10 s of sleep each.
	for i := range 6 {
		spec := task.Spec{ID: fmt.Sprintf("e2e-frozen-%d", i), Kind: task.KindBuiltin, Checkpointable: true, Retries: 2,
			Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: 200, UnitMS: 50, CheckpointEvery: 5}, Work: 10}
		if rep := op.submit(spec); !rep.OK || rep.Task != spec.ID {
			t.Fatalf("submit %s: %+v", spec.ID, rep)
		}
		specs = append(specs, spec)
	}
	n = len(specs)
	running("tasks running under sched-b")
	b.signal(syscall.SIGSTOP)
	frozen := time.Now()
	acting(t, time.Minute, a2)
	t.Logf("sched-b frozen; sched-a acting and ready %v later", time.Since(frozen).Round(10*time.Millisecond))
	b.signal(syscall.SIGCONT)
	if err := b.wait(t, time.Minute); err == nil {
		t.Errorf("thawed sched-b exited cleanly, want a deposed scheduler's error")
	}
	fenced := strings.Count(b.out.String(), "fenced")
	t.Logf("thawed sched-b tried and was refused: %d fenced lines in its log; its last lines:\n%s", fenced, lastLines(b.out.String(), 6))

	phase("freeze done")
	final := op.waitTasks(8*time.Minute, "every task ended", everyEnded(n))
	checkOnce(t, specs, final)
	refused := 0
	for _, p := range agents {
		refused += len(staleRE.FindAllString(p.out.String(), -1))
	}
	t.Logf("%d tasks succeeded exactly once; agents refused %d stale-epoch assignments", n, refused)

	phase("every task ended")
	scheds := []*proc{a, b, a2}
	r.checkReceived(t, scheds, nodes, "")
	phase("every acknowledged message accounted for")
}

// lastLines returns s's last k lines.
func lastLines(s string, k int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > k {
		lines = lines[len(lines)-k:]
	}
	return strings.Join(lines, "\n")
}
