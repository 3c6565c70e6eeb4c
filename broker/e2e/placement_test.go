package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/agent/runner"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// wanLink is a TCP proxy that delays what it carries by a fixed time in each direction, in
// order: a cloud region behind a WAN, as the scheduler's site sees it.
type wanLink struct {
	ln     net.Listener
	target string
	delay  time.Duration

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newWANLink(t *testing.T, target string, delay time.Duration) *wanLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &wanLink{ln: ln, target: target, delay: delay, conns: map[net.Conn]struct{}{}}
	l.wg.Add(1)
	go l.accept()
	t.Cleanup(func() {
		ln.Close()
		l.mu.Lock()
		for c := range l.conns {
			c.Close()
		}
		l.mu.Unlock()
		l.wg.Wait()
	})
	return l
}

func (l *wanLink) url() string { return "tcp://" + l.ln.Addr().String() }

func (l *wanLink) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", l.target)
		if err != nil {
			c.Close()
			continue
		}
		l.mu.Lock()
		l.conns[c], l.conns[b] = struct{}{}, struct{}{}
		l.mu.Unlock()
		l.wg.Add(2)
		go l.pipe(b, c)
		go l.pipe(c, b)
	}
}

// pipe copies src to dst, each chunk written delay after it was read. When either side
// fails both are closed.
func (l *wanLink) pipe(dst, src net.Conn) {
	defer l.wg.Done()
	type chunk struct {
		due time.Time
		b   []byte
	}
	ch := make(chan chunk, 1024)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(ch)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{time.Now().Add(l.delay), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	for c := range ch {
		if failed {
			continue // drain until the reader sees the close
		}
		time.Sleep(time.Until(c.due)) // kept: the link's delay is real time
		if _, err := dst.Write(c.b); err != nil {
			failed = true
			src.Close()
		}
	}
	dst.Close()
	src.Close()
}

// sleepSpec is a builtin sleep task of units × 100 ms, declared as that many tenths of a
// work unit (one unit is a second of a reference core: a sleep runs as long anywhere).
func sleepSpec(id string, units int64, input int64, deadline time.Duration) task.Spec {
	return task.Spec{ID: id, Kind: task.KindBuiltin, Work: float64(units) / 10, InputBytes: input,
		Deadline: task.Duration(deadline), Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: units, UnitMS: 100}}
}

// TestPlacementOffloadsToTheCloud: a scheduler with the Tether policy, two edge agents of
// two slots and a cloud agent of eight behind a WAN of 80 ms each way (the scheduler is
// told 160 ms and 20 Mbit/s). With the edge idle, tasks stay at the edge: the cloud cannot
// beat it. With the edge's slots held by long edge-pinned tasks, short tasks whose deadline
// the edge cannot meet are offloaded; a burst of more work than the edge's slots finish in
// time spills to the cloud. Every task succeeds once, with its correct output.
//
// The agents run on one machine, each reporting that machine's CPU load, so the scheduler
// is told to disregard background load (placement.background_load: false); the tasks
// sleep, so their run time does not depend on the machine's load either.
func TestPlacementOffloadsToTheCloud(t *testing.T) {
	t.Parallel()
	s := newTaskSite(t)
	cfg := filepath.Join(s.dir, "broker.yaml")
	conf := "placement:\n  policy: tether\n  background_load: false\n  wan: {rtt: 160ms, up_mbps: 20, down_mbps: 20}\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.startScheduler("--config", cfg)
	op := newOperator(t, s.site)
	wan := newWANLink(t, fmt.Sprintf("127.0.0.1:%d", s.port), 80*time.Millisecond)
	edges := []string{"edge-1", "edge-2"}
	for _, n := range edges {
		s.startAgent(n, "--task-slots", "2", "--label", "tether.slots=2")
	}
	s.startAgent("cloud-1", "--broker", wan.url(), "--tier", "cloud", "--task-slots", "8", "--label", "tether.slots=8")
	s.waitFleet(30*time.Second, "two edge agents and a cloud agent online", func(m map[string]protocol.FleetNode) bool {
		return m["edge-1"].Online && m["edge-2"].Online && m["cloud-1"].Online && m["cloud-1"].Tier == protocol.TierCloud
	})

	specs := map[string]task.Spec{}
	submit := func(spec task.Spec) {
		t.Helper()
		specs[spec.ID] = spec
		if r := op.submit(spec); !r.OK {
			t.Fatalf("submit %s: %+v", spec.ID, r)
		}
	}
	ended := func(ids ...string) func(map[string]task.Status) bool {
		return func(m map[string]task.Status) bool {
			for _, id := range ids {
				if !task.Terminal(m[id].State) {
					return false
				}
			}
			return true
		}
	}
	// where counts the tasks of ids by tier, as the scheduler placed their last attempt.
	where := func(st map[string]task.Status, ids []string) (edge, cloud int, on map[string]int) {
		on = map[string]int{}
		for _, id := range ids {
			on[st[id].Node]++
			if st[id].Node == "cloud-1" {
				cloud++
			} else {
				edge++
			}
		}
		return edge, cloud, on
	}

	// A spec naming a policy the scheduler does not run is refused, with the names it does.
	bad := sleepSpec("bad-policy", 1, 0, 0)
	bad.Policy = "fastest"
	if r := op.submit(bad); r.OK || !strings.Contains(r.Error, `"fastest"`) || !strings.Contains(r.Error, "round-robin (rr)") {
		t.Fatalf("a spec naming policy fastest: %+v, want a refusal listing the policies", r)
	}

	// (a) Idle edge: four 2 s tasks with 2 MB of input at the site, due in 30 s. Edge: about
	// 2.2 s; cloud: 0.16 s + 0.8 s to upload, then 2 s. None is offloaded.
	var idle []string
	for k := range 4 {
		spec := sleepSpec(fmt.Sprintf("idle-%d", k), 20, 2_000_000, 30*time.Second)
		submit(spec)
		idle = append(idle, spec.ID)
	}
	st := op.waitTasks(90*time.Second, "the idle-edge tasks ended", ended(idle...))
	edge, cloud, on := where(st, idle)
	t.Logf("(a) idle edge: %d of %d tasks at the edge, %d offloaded (%v)", edge, len(idle), cloud, on)
	if cloud != 0 {
		t.Errorf("(a) %d of %d tasks offloaded while the edge was idle: %v", cloud, len(idle), on)
	}

	// (b) Saturated edge: four 20 s edge-pinned tasks take every edge slot; then six 1 s
	// tasks due in 4 s. The edge could start them in about 20 s; the cloud finishes them in
	// under 2 s: all are offloaded.
	var long, short []string
	for k := range 4 {
		spec := sleepSpec(fmt.Sprintf("long-%d", k), 200, 0, 0)
		spec.Constraints.Tier = task.TierEdge
		submit(spec)
		long = append(long, spec.ID)
	}
	op.waitTasks(60*time.Second, "the long tasks running at the edge", func(m map[string]task.Status) bool {
		for _, id := range long {
			if m[id].State != task.StateRunning {
				return false
			}
		}
		return true
	})
	for k := range 6 {
		spec := sleepSpec(fmt.Sprintf("short-%d", k), 10, 200_000, 4*time.Second)
		submit(spec)
		short = append(short, spec.ID)
	}
	st = op.waitTasks(2*time.Minute, "the long and short tasks ended", ended(append(long, short...)...))
	edge, cloud, on = where(st, short)
	t.Logf("(b) saturated edge: %d of %d deadline tasks offloaded, %d at the edge (%v); %s", cloud, len(short), edge, on,
		deadlines(st, short))
	if cloud != len(short) {
		t.Errorf("(b) %d of %d deadline tasks offloaded while every edge slot was held for 20 s: %v", cloud, len(short), on)
	}

	// (c) A burst: sixteen 2 s tasks due in 6 s, 32 s of work for an edge of four slots.
	// The edge takes what it can finish in time; the cloud takes what it finishes sooner.
	var burst []string
	for k := range 16 {
		spec := sleepSpec(fmt.Sprintf("burst-%02d", k), 20, 200_000, 6*time.Second)
		submit(spec)
		burst = append(burst, spec.ID)
	}
	st = op.waitTasks(2*time.Minute, "the burst ended", ended(burst...))
	edge, cloud, on = where(st, burst)
	t.Logf("(c) burst: %d of %d tasks offloaded, %d at the edge (%v); %s", cloud, len(burst), edge, on, deadlines(st, burst))
	if cloud == 0 || edge == 0 {
		t.Errorf("(c) the burst was not split between the edge and the cloud: %v", on)
	}

	// Every task succeeded once, with its correct output, where it was placed.
	final := op.snapshot()
	for id, spec := range specs {
		st := final[id]
		if st.State != task.StateSucceeded {
			t.Errorf("%s ended %s: %s (attempts %+v)", id, st.State, st.Error, st.Attempts)
			continue
		}
		want, err := runner.BuiltinOutput(*spec.Builtin)
		if err != nil {
			t.Fatal(err)
		}
		if st.Result == nil || st.Result.Output != want {
			t.Errorf("%s: result %+v, want output %s", id, st.Result, want)
		}
		if n := appliedSuccesses(st); n != 1 {
			t.Errorf("%s: %d successes applied, want exactly one: %+v", id, n, st.Attempts)
		}
		if spec.Constraints.Tier == task.TierEdge && st.Node == "cloud-1" {
			t.Errorf("%s is edge-pinned but ran on %s", id, st.Node)
		}
	}
}

// deadlines says how many of the tasks ended by their deadline, by the scheduler's record
// (submitted to the last update); informative only, as the machine's load decides it.
func deadlines(st map[string]task.Status, ids []string) string {
	met, worst := 0, time.Duration(0)
	for _, id := range ids {
		s := st[id]
		took := s.Updated.Sub(s.Submitted)
		worst = max(worst, took)
		if s.Spec != nil && took <= s.Spec.Deadline.D() {
			met++
		}
	}
	return fmt.Sprintf("%d of %d done by their deadline, slowest in %v", met, len(ids), worst.Round(10*time.Millisecond))
}
