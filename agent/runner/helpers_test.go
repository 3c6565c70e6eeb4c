package runner

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-edge/tether/agent/store"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Badger's, as in agent/store's TestMain.
		goleak.IgnoreTopFunction("github.com/dgraph-io/badger/v4.(*DB).monitorCache"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2/z.(*AllocatorPool).freeupAllocators"),
		// The power-cut workload's console reader, blocked on stdin
		// until the process ends.
		goleak.IgnoreAnyFunction("github.com/tether-edge/tether/scripts/powerloss/ackline.Read"),
	)
}

const node = "n1"

// fixture is a runner on a real store in a temporary directory, with a
// scheduler key pair; it can be stopped and started again on the same
// store directory, as after an agent restart.
type fixture struct {
	t    testing.TB
	dir  string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	edit func(*Options)

	st     *store.Store
	stStop func()
	r      *Runner
	cancel context.CancelFunc
	done   chan error
}

func newFixture(t testing.TB, edit func(*Options)) *fixture {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		edit = func(*Options) {}
	}
	f := &fixture{t: t, dir: t.TempDir(), priv: priv, pub: pub, edit: edit}
	f.openStore()
	f.start()
	t.Cleanup(func() {
		f.stop()
		f.closeStore()
	})
	return f
}

func (f *fixture) openStore() {
	f.t.Helper()
	st, _, err := store.Open(filepath.Join(f.dir, "store"), store.Options{Logger: testenv.Logger(f.t, slog.LevelInfo), CommitInterval: 2 * time.Millisecond})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = st.Run(ctx); close(done) }()
	f.st = st
	f.stStop = func() {
		cancel()
		<-done
		if err := st.Close(); err != nil {
			f.t.Errorf("store close: %v", err)
		}
	}
}

func (f *fixture) closeStore() {
	if f.stStop != nil {
		f.stStop()
		f.stStop = nil
	}
}

func (f *fixture) options() Options {
	o := Options{Node: node, Region: "r1", Store: f.st, Keys: []ed25519.PublicKey{f.pub}, Slots: 2,
		Workdir: filepath.Join(f.dir, "tasks"), Logger: testenv.Logger(f.t, slog.LevelInfo), PollInterval: 20 * time.Millisecond,
		KillGrace: 500 * time.Millisecond}
	f.edit(&o)
	return o
}

func (f *fixture) start() {
	f.t.Helper()
	r, err := New(f.options())
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.r, f.cancel, f.done = r, cancel, make(chan error, 1)
	go func() { f.done <- r.Run(ctx) }()
}

func (f *fixture) stop() {
	if f.cancel == nil {
		return
	}
	f.cancel()
	if err := <-f.done; err != nil {
		f.t.Errorf("Run: %v", err)
	}
	f.cancel = nil
}

// restart is an agent restart: the runner stops, the store closes and
// opens again, and a new runner starts on it.
func (f *fixture) restart() {
	f.stop()
	f.closeStore()
	f.openStore()
	f.start()
}

var t0 = time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)

// assignment is a run assignment of spec for this node, valid for an hour
// around now.
func assignment(id string, attempt uint32, spec task.Spec) task.Assignment {
	now := time.Now()
	return task.Assignment{V: task.Version, Op: task.AssignRun, Node: node, Task: id, Attempt: attempt,
		Issued: now.Add(-time.Minute), Expires: now.Add(time.Hour), Spec: &spec}
}

func cancelAssignment(id string, attempt uint32) task.Assignment {
	now := time.Now()
	return task.Assignment{V: task.Version, Op: task.AssignCancel, Node: node, Task: id, Attempt: attempt,
		Issued: now.Add(-time.Minute), Expires: now.Add(time.Hour)}
}

func (f *fixture) sign(a task.Assignment) []byte {
	f.t.Helper()
	env, err := task.Sign(f.priv, a)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := json.Marshal(env)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) submit(a task.Assignment) { f.r.Submit(f.sign(a)) }

// events returns every task event in the outbox, in seq order; each one
// must pass task.DecodeEvent, as the scheduler decodes it.
func (f *fixture) events() []task.Event {
	f.t.Helper()
	recs, err := f.st.Pending(0, 100000)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []task.Event
	for _, r := range recs {
		var ev task.Event
		if err := json.Unmarshal(r.Payload, &ev); err != nil {
			f.t.Fatalf("seq %d: %v", r.Seq, err)
		}
		if _, err := task.DecodeEvent(r.Payload); err != nil {
			f.t.Fatalf("seq %d: the runner made an invalid event: %v\n%s", r.Seq, err, r.Payload)
		}
		if r.Topic != "tether/v1/r1/nodes/n1/tasks" {
			f.t.Fatalf("seq %d on topic %s", r.Seq, r.Topic)
		}
		out = append(out, ev)
	}
	return out
}

// of returns the events of a task, in order.
func of(evs []task.Event, id string) []task.Event {
	var out []task.Event
	for _, e := range evs {
		if e.Task == id {
			out = append(out, e)
		}
	}
	return out
}

// waitFor waits for an event of the task that satisfies ok, and returns it.
func (f *fixture) waitFor(id string, ok func(task.Event) bool) task.Event {
	f.t.Helper()
	var found task.Event
	if !testenv.Within(20*time.Second, func() bool {
		for _, e := range of(f.events(), id) {
			if ok(e) {
				found = e
				return true
			}
		}
		return false
	}) {
		f.t.Fatalf("no such event of task %s; it has:\n%s", id, describe(of(f.events(), id)))
	}
	return found
}

func (f *fixture) waitState(id string, attempt uint32, state string) task.Event {
	f.t.Helper()
	return f.waitFor(id, func(e task.Event) bool { return e.Attempt == attempt && e.State == state })
}

func describe(evs []task.Event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e.State)
		b.WriteString(" attempt=")
		b.WriteString(itoa(int64(e.Attempt)))
		b.WriteString(" progress=")
		b.WriteString(itoa(e.Progress))
		if e.Error != "" {
			b.WriteString(" error=" + e.Error)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func states(evs []task.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.State)
	}
	return out
}

// sleepSpec is a sleep builtin of units × unitMS.
func sleepSpec(units, unitMS, every int64, checkpointable bool) task.Spec {
	return task.Spec{Kind: task.KindBuiltin, Checkpointable: checkpointable,
		Builtin: &task.Builtin{Name: task.BuiltinSleep, Units: units, UnitMS: unitMS, CheckpointEvery: every}}
}

// expected is a builtin's output computed straight through, without its
// sleeps: the digest over the units from the start.
func expected(b task.Builtin) string {
	s := builtinStart(b.Name)
	never := make(chan struct{})
	for i := range b.Units {
		if b.Name == task.BuiltinCPU {
			cpuUnit(&s.digest, b.UnitMS*refItersPerMS, never)
		} else {
			sleepUnit(&s.digest, i)
		}
	}
	return hex.EncodeToString(s.digest[:])
}

func transitionsAsEvents(h []store.Transition) []task.Event {
	var out []task.Event
	for _, t := range h {
		out = append(out, task.Event{State: t.To, Attempt: t.Attempt})
	}
	return out
}
