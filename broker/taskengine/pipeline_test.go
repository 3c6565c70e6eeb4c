package taskengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/broker/mqttd/mqttdtest"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestFinishedStaysUntilDurable: a finished task whose move to f/ is
// taken but not yet committed stays in memory, so an input applied
// meanwhile (a pipelined round) finds it there rather than reading a
// store that does not hold its f/ record yet; once the batch is durable
// it leaves memory and is read from the store.
func TestFinishedStaysUntilDurable(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.node("pi-a")
	h.submit(builtin("same", 10))
	h.event("pi-a", "same", 1, task.EventSucceeded)
	h.e.Announced("same")
	moving, err := h.e.TakeAhead()
	if err != nil {
		t.Fatal(err)
	}
	if f, err := h.st.Finished("same"); err != nil || f != nil {
		t.Fatalf("f/ record before the commit: %v %v", f, err)
	}
	req := task.SubmitRequest{V: task.Version, RequestID: "r2", ReplyTo: "tether/v1/default/replies/cli/r2", Spec: builtin("same", 10)}
	h.e.Submit(req)
	ahead, err := h.e.TakeAhead()
	if err != nil {
		t.Fatal(err)
	}
	h.msgs = ahead.Msgs
	if r := h.reply(); !r.OK || !r.Existing || r.State != task.StateSucceeded {
		t.Fatalf("resubmitted while its move to f/ commits: %+v (a new task, not the finished one)", r)
	}
	if err := h.st.Commit(moving.units); err != nil {
		t.Fatal(err)
	}
	h.e.Durable(moving)
	if err := h.st.Commit(ahead.units); err != nil {
		t.Fatal(err)
	}
	h.e.Durable(ahead)
	if _, ok := h.e.tasks["same"]; ok {
		t.Fatal("the finished task stayed in memory after its move to f/ was durable")
	}
	if r := h.submit(builtin("same", 10)); !r.OK || !r.Existing || r.State != task.StateSucceeded {
		t.Fatalf("resubmitted, read from the store: %+v", r)
	}
}

// gatedBackend is a Backend whose commits can be held: while hold is set
// a Commit says so on entered (1-buffered) and returns only when release
// is closed, as a slow fsync would.
type gatedBackend struct {
	Backend
	hold    atomic.Bool
	fail    atomic.Bool // a held commit fails when released
	entered chan struct{}
	release chan struct{}
	commits atomic.Int64 // returned
}

func (g *gatedBackend) Commit(units []Unit) error {
	if g.hold.Load() {
		select {
		case g.entered <- struct{}{}:
		default: // a test that gave up waiting: it releases the commit
		}
		<-g.release
		if g.fail.Load() {
			return errors.New("gated: commit failed")
		}
	}
	err := g.Backend.Commit(units)
	g.commits.Add(1)
	return err
}

// TestServicePipelinesCommits: while a round's commit is under way the
// Service applies the inputs that arrive (a question to the engine is
// answered), yet nothing those rounds make — replies, assignments,
// statuses — is published, and no Committed waiter released, before its
// own commit returned; then the rounds' messages leave in their commits'
// order.
func TestServicePipelinesCommits(t *testing.T) {
	t.Parallel()
	r := startGated(t)
	ctx, url, svc, g, topics, release := r.ctx, r.url, r.svc, r.g, r.topics, r.release

	ops := connect(t, ctx, r.wg, url, "ops")
	node := connect(t, ctx, r.wg, url, "pi-a")
	var mu sync.Mutex
	var got []string // topics of j1's and j2's messages, in the order they arrived
	collect := func(m session.Message) {
		mu.Lock()
		got = append(got, m.Topic)
		mu.Unlock()
	}
	for c, f := range map[*session.Session]string{ops: topics.Replies("ops"), node: topics.NodeCommands("pi-a")} {
		if err := c.Subscribe(ctx, f, 1, collect); err != nil {
			t.Fatal(err)
		}
	}
	if err := ops.Subscribe(ctx, topics.AllTaskStatus(), 1, func(m session.Message) {
		if m.Topic == topics.TaskStatus("j1") || m.Topic == topics.TaskStatus("j2") {
			collect(m)
		}
	}); err != nil {
		t.Fatal(err)
	}
	received := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
	svc.UpdateNode(NodeState{ID: "pi-a", Online: true, Instance: "i", HasFacts: true, Tier: "edge", Cores: 4, MemTotal: 1 << 30})
	if err := svc.Committed(ctx); err != nil {
		t.Fatal(err)
	}

	submit := func(id string) {
		t.Helper()
		req := `{"v":1,"request_id":"` + id + `","reply_to":"` + topics.Reply("ops", id) +
			`","spec":{"id":"` + id + `","kind":"builtin","builtin":{"name":"sleep","units":1}}}`
		if err := svc.HandleSubmit([]byte(req)); err != nil {
			t.Fatal(err)
		}
	}
	g.hold.Store(true)
	submit("j1")
	first := make(chan error, 1)
	go func() { first <- svc.Committed(ctx) }()
	select {
	case <-g.entered: // j1's round is committing, held
	case <-time.After(5 * time.Second):
		t.Fatal("no commit of j1's round")
	}
	returned := g.commits.Load()

	submit("j2")
	second := make(chan error, 1)
	go func() { second <- svc.Committed(ctx) }()
	qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
	defer qcancel()
	if q := svc.Quarantined(qctx); q == nil {
		t.Fatal("the engine applied no input while a commit was under way")
	}
	time.Sleep(200 * time.Millisecond) // kept: time for anything published too early to arrive; what is proven is an absence
	if early := received(); len(early) > 0 {
		t.Fatalf("published while their rounds' commits were held: %v", early)
	}
	select {
	case err := <-first:
		t.Fatalf("Committed returned (%v) while the commit was held", err)
	case err := <-second:
		t.Fatalf("Committed returned (%v) before its round was committed", err)
	default:
	}
	if g.commits.Load() != returned {
		t.Fatal("a commit returned beside the held one: commits overlap")
	}

	release()
	for _, c := range []chan error{first, second} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	order := map[string]int{}
	testenv.Eventually(t, 5*time.Second, "both replies and statuses, and an assignment", func() bool {
		for i, tp := range received() {
			if _, seen := order[tp]; !seen {
				order[tp] = i
			}
		}
		for _, id := range []string{"j1", "j2"} {
			for _, tp := range []string{topics.Reply("ops", id), topics.TaskStatus(id)} {
				if _, ok := order[tp]; !ok {
					return false
				}
			}
		}
		_, assigned := order[topics.NodeCommand("pi-a", protocol.CmdTask)]
		return assigned
	})
	if order[topics.Reply("ops", "j1")] > order[topics.Reply("ops", "j2")] {
		t.Fatalf("j2's reply left before j1's, whose round was committed first: %v", received())
	}
}

// gatedRig is a Service over a gatedBackend and an embedded broker,
// stopped at the test's end (its held commit released first).
type gatedRig struct {
	ctx     context.Context
	wg      *sync.WaitGroup
	url     string
	svc     *Service
	g       *gatedBackend
	topics  protocol.Topics
	release func() // lets the held commit and those after it go
	// done gets Run's error when it returns; a test that takes it puts
	// it back for the cleanup.
	done chan error
}

func startGated(t *testing.T) gatedRig {
	_, url := mqttdtest.Start(t, mqttd.Options{Region: "default", AllowAnonymous: true,
		SchedulerUsers: []string{"sched"}, OperatorUsers: []string{"ops"}, Logger: testenv.Logger(t, slog.LevelWarn)})
	ctx, cancel := context.WithCancel(context.Background())
	wg := &sync.WaitGroup{}
	t.Cleanup(wg.Wait)
	t.Cleanup(cancel)

	g := &gatedBackend{Backend: OpenBadgerBackend(t, filepath.Join(t.TempDir(), "tasks")),
		entered: make(chan struct{}, 1), release: make(chan struct{})}
	st, ld, err := OpenStoreOn(g, testenv.Logger(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	topics, _ := protocol.NewTopics("default")
	svc, err := NewService(st, ld, connect(t, ctx, wg, url, "sched"), ServiceOptions{Topics: topics, Key: testKey,
		Placer: leastOutstanding{}, Logger: testenv.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	svcCtx, stopSvc := context.WithCancel(ctx)
	svcDone := make(chan error, 1)
	go func() { svcDone <- svc.Run(svcCtx) }()
	var released sync.Once
	release := func() {
		g.hold.Store(false)
		released.Do(func() { close(g.release) })
	}
	t.Cleanup(func() {
		release() // a failed test's held commit too, so Run can return
		stopSvc()
		if err := <-svcDone; err != nil && !g.fail.Load() { // a failed commit stops Run
			t.Errorf("Service.Run: %v", err)
		}
	})
	return gatedRig{ctx: ctx, wg: wg, url: url, svc: svc, g: g, topics: topics, release: release, done: svcDone}
}

// TestServiceBoundsRounds: while a commit is under way the engine applies
// at most maxRound inputs; the rest wait in the queue for the next round,
// so one commit stays bounded however slow the last was.
func TestServiceBoundsRounds(t *testing.T) {
	t.Parallel()
	r := startGated(t)
	r.g.hold.Store(true)
	submit := func(i int) {
		t.Helper()
		req := fmt.Sprintf(`{"v":1,"request_id":"r%d","reply_to":"%s","spec":{"kind":"builtin","builtin":{"name":"sleep","units":1}}}`,
			i, r.topics.Reply("ops", fmt.Sprintf("r%d", i)))
		if err := r.svc.HandleSubmit([]byte(req)); err != nil {
			t.Fatal(err)
		}
	}
	submit(0)
	select {
	case <-r.g.entered: // the first submission's round is committing, held
	case <-time.After(5 * time.Second):
		t.Fatal("no commit")
	}
	for i := 1; i <= maxRound; i++ {
		submit(i)
	}
	qctx, qcancel := context.WithTimeout(r.ctx, time.Second)
	defer qcancel()
	if q := r.svc.Quarantined(qctx); q != nil {
		t.Fatalf("an input past %d was applied while the commit was held", maxRound)
	}
	r.release()
	if err := r.svc.Committed(r.ctx); err != nil {
		t.Fatal(err)
	}
}
