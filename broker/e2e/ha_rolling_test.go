package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
	"github.com/tether-edge/tether/pkg/testenv/netns"
)

// supervised is a highly available scheduler run as systemd runs it
// (Restart=always): started again a second after it exits, whatever the
// reason (a clean stop, or deposed when it lost its lease).
type supervised struct {
	r      *haRegion
	holder string
	first  int
	mu     sync.Mutex
	runs   []*proc // every process so far, the current one last
	quit   chan struct{}
	wg     sync.WaitGroup
}

func (r *haRegion) supervise(t *testing.T, holder string, first int) *supervised {
	s := &supervised{r: r, holder: holder, first: first, quit: make(chan struct{})}
	s.runs = []*proc{r.startScheduler(holder, first)}
	s.wg.Add(1)
	go s.loop()
	t.Cleanup(func() { close(s.quit); s.wg.Wait() })
	return s
}

func (s *supervised) loop() {
	defer s.wg.Done()
	for {
		cur := s.current()
		select {
		case <-s.quit:
			return
		case <-cur.done:
		}
		select {
		case <-s.quit:
			return
		case <-time.After(time.Second): // kept: systemd's RestartSec, shortened
		}
		s.mu.Lock()
		s.runs = append(s.runs, s.r.startScheduler(s.holder, s.first))
		s.mu.Unlock()
	}
}

func (s *supervised) current() *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[len(s.runs)-1]
}

func (s *supervised) all() []*proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*proc(nil), s.runs...)
}

// actingOf waits until the current process of one of ss holds the region
// and is ready, and returns that supervised scheduler.
func actingOf(t *testing.T, within time.Duration, ss ...*supervised) *supervised {
	t.Helper()
	var got *supervised
	if !testenv.Within(within, func() bool {
		for _, s := range ss {
			if isActing(s.current()) {
				got = s
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no scheduler holds the region and is ready within %v", within)
	}
	return got
}

// TestRegionRollingRestart: a highly available region (each NATS node and
// scheduler in a network namespace of its own) under load (agents
// reporting every second and running tasks, submissions going on) has
// every engine node and then every scheduler restarted, one at a time —
// the NATS nodes SIGKILLed and started again, the acting scheduler
// stopped cleanly — with each scheduler supervised as systemd does. A
// scheduler that loses its lease while JetStream elects a new stream
// leader exits deposed and is started again as a standby. Checked: every
// task of both batches succeeds exactly once with its correct output, and
// every message the agents had acknowledged reached one of the schedulers.
// The operator asks again, on a new connection, for a submission that got
// no reply (a NATS node that has just restarted can acknowledge a request
// or its reply and not deliver it: docs/scaling.md), after logging what
// became of it.
// The short form runs 3 agents and 2 × 20 tasks; the long form (make
// cluster) 20 agents and 2 × 200.
func TestRegionRollingRestart(t *testing.T) {
	t.Parallel()
	batch, agentsN := 20, 3
	if cluster() {
		batch, agentsN = 200, 20
	}
	var nodes []string
	for i := range agentsN {
		nodes = append(nodes, fmt.Sprintf("pi-roll-%02d", i))
	}
	r := startHARegionOn(t, nodes, netns.New(t, "nats-1", "nats-2", "nats-3", "sched-a", "sched-b"))
	sa := r.supervise(t, "sched-a", 0)
	actingOf(t, time.Minute, sa)
	sb := r.supervise(t, "sched-b", 1)
	// The operator follows through a persistent session on every node:
	// statuses published while its node restarts are queued for it.
	op := newOperatorOn(t, r.s, r.c.URLs(0), false)
	for _, node := range nodes {
		r.startAgent(node, "--task-slots", "2", "--sample-interval", "1s")
	}
	r.waitOnline(nodes)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	var specs []task.Spec
	submit := func(prefix string) {
		t.Helper()
		for _, spec := range mixedSpecs(rng, batch) {
			spec.ID = prefix + strings.TrimPrefix(spec.ID, "e2e")
			specs = append(specs, spec)
			rep, id, ok := op.trySubmit(spec)
			// A requester that gets no reply asks again (submissions are
			// idempotent by task id) on a new connection, another node
			// first: a NATS node that has just restarted can acknowledge a
			// request or its reply and deliver neither (docs/scaling.md).
			for asked := 1; !ok; asked++ {
				if rep, ok = r.whyNoReply(t, op, spec.ID, id, append(sa.all(), sb.all()...)); ok {
					break
				}
				if asked == 3 {
					t.Fatalf("no reply to the submission of %s, asked %d times, each on a new connection", spec.ID, asked)
				}
				op.reconnect(r.c.URLs(asked % len(r.c.MQTT)))
				t.Logf("asking again for %s on a new connection", spec.ID)
				rep, id, ok = op.trySubmit(spec)
			}
			if !rep.OK || rep.Task != spec.ID {
				t.Fatalf("submit %s: %+v", spec.ID, rep)
			}
		}
	}
	submit("roll1")

	// Every engine node in turn; submissions go on after.
	for _, i := range []int{1, 2, 0} {
		killed := time.Now()
		r.c.Kill(i)
		r.c.Start(i)
		r.c.WaitReady(i, time.Minute)
		ready := time.Since(killed)
		// As an operator's rolling restart does: the next node only once
		// every node is current again.
		r.c.WaitHealthy(2 * time.Minute)
		acting := actingOf(t, time.Minute, sa, sb)
		t.Logf("engine node %d SIGKILLed and ready again %v after the kill, the cluster healthy %v after it; %s acting (load average %s)",
			i, ready.Round(10*time.Millisecond), time.Since(killed).Round(10*time.Millisecond), acting.holder, loadavg())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	if err := op.sess.WaitConnected(ctx); err != nil {
		t.Fatalf("the operator is not connected after the restarts: %v", err)
	}
	cancel()
	submit("roll2")
	// Every scheduler in turn: the acting one stops cleanly (its
	// supervisor starts it again as a standby) until each has been
	// stopped while acting. Whichever standby is up first takes over: the
	// other one, or the stopped one started again.
	stoppedOnce := map[*supervised]bool{}
	for round := 0; len(stoppedOnce) < 2; round++ {
		if round == 4 {
			t.Fatalf("after %d clean stops, one scheduler never acted", round)
		}
		acting := actingOf(t, time.Minute, sa, sb)
		p := acting.current()
		stopped := time.Now()
		p.signal(syscall.SIGTERM)
		if err := p.wait(t, time.Minute); err != nil {
			t.Errorf("%s's clean stop: %v", acting.holder, err)
		}
		stoppedOnce[acting] = true
		next := actingOf(t, time.Minute, sa, sb) // p is done: a new acting process
		t.Logf("%s stopped cleanly; %s acting and ready %v later", acting.holder, next.holder, time.Since(stopped).Round(10*time.Millisecond))
	}
	var final map[string]task.Status
	within := 3 * time.Minute // below the package's test timeout, so a miss reports
	if cluster() {
		within = 8 * time.Minute
	}
	if !testenv.Within(within, func() bool {
		final = op.snapshot()
		for _, spec := range specs {
			if !task.Terminal(final[spec.ID].State) {
				return false
			}
		}
		return true
	}) {
		// Which of the operator, the broker's retained statuses and the
		// schedulers is behind: each node's retained status, read afresh.
		for _, spec := range specs {
			if st := final[spec.ID]; !task.Terminal(st.State) {
				t.Errorf("%s: the operator holds %s (attempt %d, epoch %d, updated %v); retained on each node: %s",
					spec.ID, st.State, st.Attempt, st.Epoch, st.Updated, r.retainedStatus(t, spec.ID))
			}
		}
		t.FailNow()
	}
	checkOnce(t, specs, final)
	runs := append(sa.all(), sb.all()...)
	deposed := 0
	for _, p := range runs {
		deposed += strings.Count(p.out.String(), "region lease lost")
	}
	t.Logf("%d tasks succeeded exactly once; %d scheduler processes in all, %d deposed on the way", len(specs), len(runs), deposed)
	r.checkReceived(t, runs, nodes, "")
}

// retainedStatus reads task id's retained status from each NATS node with
// a fresh monitor session, for a failure's report.
func (r *haRegion) retainedStatus(t *testing.T, id string) string {
	topics, _ := protocol.NewTopics("default")
	var out []string
	for i := range r.c.MQTT {
		got := "none"
		mon, err := session.New(session.Options{Brokers: []string{"tcp://" + r.c.MQTT[i]}, ClientID: fmt.Sprintf("monitor-status-%d", time.Now().UnixNano()),
			Username: "monitor", Password: r.s.password("monitor"), CleanSession: true})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		done := make(chan error, 1)
		go func() { done <- mon.Run(ctx) }()
		ch := make(chan task.Status, 1)
		if mon.WaitConnected(ctx) == nil && mon.Subscribe(ctx, topics.TaskStatus(id), 1, func(m session.Message) {
			if st, err := task.DecodeStatus(m.Payload); err == nil {
				select {
				case ch <- st:
				default:
				}
			}
		}) == nil {
			select {
			case st := <-ch:
				got = fmt.Sprintf("%s (attempt %d, epoch %d, updated %v)", st.State, st.Attempt, st.Epoch, st.Updated)
			case <-time.After(3 * time.Second):
			}
		}
		cancel()
		<-done
		out = append(out, fmt.Sprintf("node %d: %s", i, got))
	}
	return strings.Join(out, "; ")
}

// whyNoReply logs what became of a submission (task id, request req) that
// got no reply: whether the reply comes late (within NATS's redelivery),
// whether the task exists (the operator's statuses, each node's retained
// one), and what the schedulers logged of it. It returns the late reply,
// if one came.
func (r *haRegion) whyNoReply(t *testing.T, op *operator, id, req string, runs []*proc) (task.Reply, bool) {
	t.Helper()
	late, ok := op.lateReply(req, 35*time.Second)
	t.Logf("no reply to %s (request %s) within 10 s; 35 s more (NATS redelivers after its MQTT ack_wait, 30 s): reply %v %+v", id, req, ok, late)
	t.Logf("the operator's status of %s: %+v", id, op.snapshot()[id])
	t.Logf("retained status of %s on each node: %s", id, r.retainedStatus(t, id))
	for _, p := range runs {
		for _, line := range strings.Split(p.out.String(), "\n") {
			if strings.Contains(line, req) || strings.Contains(line, id) || strings.Contains(line, "not published") ||
				strings.Contains(line, "onnect") || strings.Contains(line, "lease") || strings.Contains(line, "subscri") ||
				strings.Contains(line, "self-probe") {
				t.Logf("%s: %s", p.name, line)
			}
		}
	}
	return late, ok
}
