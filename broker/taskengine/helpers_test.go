package taskengine

import (
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/kv"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

var t0 = time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)

// testKey is fixed so that failures are reproducible.
var testKey = ed25519.NewKeyFromSeed([]byte("tether tasks test key seed 32 b!"))

// testProfile is the server profile with a small memtable: tests open
// many stores.
func testProfile() kv.Profile {
	p := kv.Server()
	p.MemTableSize = 2 << 20
	p.BaseTableSize = 2 << 20
	p.BaseLevelSize = 4 << 20
	p.ValueThreshold = 64 << 10
	p.ValueLogFileSize = 4 << 20
	p.BlockCacheSize = 1 << 20
	return p
}

// leastOutstanding is these tests' Placer. The engine has none of its
// own, and the scheduler's (broker/place/live, tested there) imports this
// package, so these internal tests cannot use it. It places on the
// fitting node with the least outstanding work by the engine's own
// records (Candidate.Outstanding), ties to fewer tasks, then the lower
// id, and on the node to avoid only when no other fits: where tasks go
// shows the tests the engine's accounting of each node's load. With
// queue set it places in nodes' queues too (FitsQueued), as Tether does.
type leastOutstanding struct{ queue bool }

func (p leastOutstanding) Place(r *Request, nodes []*Candidate) *Candidate {
	var best, avoided *Candidate
	for _, n := range nodes {
		if p.queue && !FitsQueued(r, n) || !p.queue && !Fits(r, n) {
			continue
		}
		if n.ID == r.Avoid {
			avoided = n
			continue
		}
		if best == nil || n.Outstanding < best.Outstanding ||
			n.Outstanding == best.Outstanding && n.Tasks < best.Tasks {
			best = n // nodes come sorted by id: the first of equals stays
		}
	}
	if best == nil {
		return avoided
	}
	return best
}

// harness is an engine over a real store with a clock moved by hand. Every
// step (do) is followed by a commit of what the engine took, as the
// Service does; the messages of each step are kept for the test to look
// at.
type harness struct {
	t    testing.TB
	dir  string
	now  time.Time     // the wall clock
	mono time.Duration // the monotonic clock
	opts Options
	st   *Store
	ld   Loaded
	e    *Engine
	msgs []Message // of the last step
	ids  int
}

func newHarness(t testing.TB, mods ...func(*Options)) *harness {
	h := &harness{t: t, dir: filepath.Join(t.TempDir(), "tasks"), now: t0}
	topics, _ := protocol.NewTopics("default")
	h.opts = Options{
		Topics: topics, Key: testKey, Placer: leastOutstanding{}, Logger: testenv.Logger(t, slog.LevelWarn),
		Now:     func() time.Time { return h.now },
		Elapsed: func() time.Duration { return h.mono },
		NewID: func() string {
			h.ids++
			return fmt.Sprintf("gen-%d", h.ids)
		},
	}
	for _, m := range mods {
		m(&h.opts)
	}
	h.open()
	t.Cleanup(func() {
		if h.st != nil {
			if err := h.st.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return h
}

// open opens the store and makes an engine of what it holds; the
// engine's first batch (statuses re-published, assignments re-sent) is
// committed and kept in msgs.
func (h *harness) open() {
	h.t.Helper()
	st, ld, rec, err := openStore(h.dir, testProfile(), h.opts.Logger)
	if err != nil {
		h.t.Fatalf("openStore: %v", err)
	}
	if rec != nil {
		h.t.Fatalf("store recovered on open: %+v", rec)
	}
	h.st, h.ld = st, ld
	o := h.opts
	o.Finished, o.FinishedAfter = st.Finished, st.FinishedAfter
	e, err := New(o, ld)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	h.e = e
	h.flush()
}

// restart closes the store, as after a SIGKILL any time after a commit,
// and opens it again.
func (h *harness) restart() {
	h.t.Helper()
	if err := h.st.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.st = nil
	h.open()
}

// flush commits what the engine took and keeps its messages.
func (h *harness) flush() {
	h.t.Helper()
	b, err := h.e.Take()
	if err != nil {
		h.t.Fatalf("Take: %v", err)
	}
	if err := h.st.Commit(b.units); err != nil {
		h.t.Fatalf("Commit: %v", err)
	}
	h.msgs = b.Msgs
}

// do runs one step as a round of the Service: the input, placement if
// due, the commit.
func (h *harness) do(f func(e *Engine)) []Message {
	h.t.Helper()
	f(h.e)
	h.e.Settle()
	h.flush()
	return h.msgs
}

func (h *harness) advance(d time.Duration) { h.now, h.mono = h.now.Add(d), h.mono+d }

// stepWall steps the wall clock alone, as NTP steps a clock: no time
// passes.
func (h *harness) stepWall(d time.Duration) { h.now = h.now.Add(d) }

// tick advances the clock and runs the engine's timers.
func (h *harness) tick(d time.Duration) []Message {
	h.t.Helper()
	h.advance(d)
	return h.do(func(e *Engine) { e.Tick() })
}

func (h *harness) submit(spec task.Spec) task.Reply {
	h.t.Helper()
	req := task.SubmitRequest{V: task.Version, RequestID: "r1", ReplyTo: "tether/v1/default/replies/cli/r1", Spec: spec}
	h.do(func(e *Engine) { e.Submit(req) })
	return h.reply()
}

func (h *harness) cancel(id string) task.Reply {
	h.t.Helper()
	req := task.ControlRequest{V: task.Version, RequestID: "c1", ReplyTo: "tether/v1/default/replies/cli/c1", Op: task.OpCancel, Task: id}
	h.do(func(e *Engine) { e.Control(req) })
	return h.reply()
}

// reply returns the one reply of the last step.
func (h *harness) reply() task.Reply {
	h.t.Helper()
	var out []task.Reply
	for _, m := range h.msgs {
		if strings.Contains(m.Topic, "/replies/") {
			r, err := task.DecodeReply(m.Payload)
			if err != nil {
				h.t.Fatalf("reply on %s: %v\n%s", m.Topic, err, m.Payload)
			}
			out = append(out, r)
		}
	}
	if len(out) != 1 {
		h.t.Fatalf("%d replies in %s", len(out), h.dump())
	}
	return out[0]
}

// node brings a node online with facts.
func (h *harness) node(id string, mods ...func(*NodeState)) {
	h.t.Helper()
	n := NodeState{ID: id, Online: true, Instance: "i-" + id, HasFacts: true, Tier: protocol.TierEdge, Cores: 4, MemTotal: 4 << 30}
	for _, m := range mods {
		m(&n)
	}
	h.do(func(e *Engine) { e.UpdateNode(n) })
}

func (h *harness) offline(id string) {
	h.t.Helper()
	ns := h.e.nodes[id]
	n := ns.NodeState
	n.Online = false
	h.do(func(e *Engine) { e.UpdateNode(n) })
}

// event applies an agent's event.
func (h *harness) event(node, id string, attempt uint32, state string, mods ...func(*task.Event)) []Message {
	h.t.Helper()
	ev := task.Event{Header: protocol.Header{V: 1, Node: node, Instance: "i-" + node, Seq: 1, TS: h.now},
		Task: id, Attempt: attempt, State: state}
	for _, m := range mods {
		m(&ev)
	}
	if err := ev.Validate(); err != nil {
		h.t.Fatalf("test event invalid: %v", err)
	}
	return h.do(func(e *Engine) { e.Event(ev) })
}

// assignments returns the verified assignments of the last step.
func (h *harness) assignments() []task.Assignment {
	h.t.Helper()
	var out []task.Assignment
	for _, m := range h.msgs {
		nt, err := protocol.ParseNodeTopic(m.Topic)
		if err != nil || nt.Command != protocol.CmdTask {
			continue
		}
		env, err := task.DecodeEnvelope(m.Payload)
		if err != nil {
			h.t.Fatalf("envelope: %v", err)
		}
		a, err := task.Verify([]ed25519.PublicKey{testKey.Public().(ed25519.PublicKey)}, env, nt.Node, h.now)
		if err != nil {
			h.t.Fatalf("assignment to %s: %v", nt.Node, err)
		}
		if m.Retained || m.QoS != 1 {
			h.t.Fatalf("assignment retained %v qos %d", m.Retained, m.QoS)
		}
		out = append(out, a)
	}
	return out
}

// status returns the last status of task id in the last step's messages.
func (h *harness) status(id string) (task.Status, bool) {
	h.t.Helper()
	var st task.Status
	found := false
	for _, m := range h.msgs {
		if m.Topic == h.opts.Topics.TaskStatus(id) {
			if !m.Retained || m.QoS != 1 {
				h.t.Fatalf("status retained %v qos %d", m.Retained, m.QoS)
			}
			s, err := task.DecodeStatus(m.Payload)
			if err != nil {
				h.t.Fatalf("status of %s: %v\n%s", id, err, m.Payload)
			}
			st, found = s, true
		}
	}
	return st, found
}

// task returns the engine's record of id (in memory or finished).
func (h *harness) task(id string) *Task {
	h.t.Helper()
	if en, ok := h.e.tasks[id]; ok {
		return en.t
	}
	t, err := h.st.Finished(id)
	if err != nil || t == nil {
		h.t.Fatalf("task %s: %v (not found)", id, err)
	}
	return t
}

func (h *harness) dump() string {
	var b strings.Builder
	for _, m := range h.msgs {
		fmt.Fprintf(&b, "\n  %s %s", m.Topic, m.Payload)
	}
	return b.String()
}

func builtin(id string, units int64) task.Spec {
	return task.Spec{ID: id, Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinCPU, Units: units}}
}
