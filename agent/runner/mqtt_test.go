package runner

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/tether-edge/tether/agent/uplink"
	"github.com/tether-edge/tether/pkg/backoff"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
	"github.com/tether-edge/tether/pkg/testenv/mqtttest"
)

// TestAssignmentOverMQTT wires the runner to an uplink as the agent does
// and sends it an assignment through an in-process broker: the task's
// events arrive on the node's task topic, stamped by the uplink, in order.
func TestAssignmentOverMQTT(t *testing.T) {
	w := newWire(t)
	f, srv, up := w.f, w.srv, w.up
	spec := sleepSpec(3, 1, 0, false)
	if err := srv.Publish("tether/v1/r1/nodes/n1/cmd/task", f.sign(assignment("wire", 1, spec)), false, 1); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "3 task events on the wire", func() bool { return len(w.events()) == 3 })
	got := w.events()
	if s := states(got); s[0] != task.EventAccepted || s[1] != task.EventRunning || s[2] != task.EventSucceeded {
		t.Fatalf("events on the wire: %v", s)
	}
	for i, ev := range got {
		if ev.Instance != up.Instance() || ev.Seq != uint64(i+1) {
			t.Fatalf("event %d: instance %q seq %d, want the uplink's %q and seq %d", i, ev.Instance, ev.Seq, up.Instance(), i+1)
		}
	}
	if got[2].Result.Output != expected(*spec.Builtin) {
		t.Fatalf("output %s", got[2].Result.Output)
	}
}

// wire is a runner wired to an uplink as the agent wires them, connected
// to an in-process broker that collects the node's task events.
type wire struct {
	f   *fixture
	srv *mochi.Server
	up  *uplink.Uplink

	mu  sync.Mutex // guards got
	got []task.Event
}

func newWire(t *testing.T) *wire {
	t.Helper()
	srv, url := mqtttest.Start(t)
	w := &wire{}
	if err := srv.Subscribe("tether/v1/r1/nodes/n1/tasks", 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		ev, err := task.DecodeEvent(pk.Payload)
		if err != nil {
			t.Errorf("event on the wire: %v", err)
			return
		}
		w.mu.Lock()
		w.got = append(w.got, ev)
		w.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}

	f := newFixture(t, nil)
	f.stop() // started again below, wired to an uplink
	var r *Runner
	up, err := uplink.New(uplink.Options{Region: "r1", Node: node, Outbox: uplink.StoreOutbox(f.st), StoreID: f.st.ID(),
		Logger: testenv.Logger(t, slog.LevelInfo), OnTask: func(p []byte) { r.Submit(p) },
		Session: session.Options{Brokers: []string{url}, KeepAlive: 5 * time.Second,
			Backoff: backoff.Policy{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	o := f.options()
	o.Header, o.Notify = up.Header, up.Notify
	if r, err = New(o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{r.Run, up.Run} {
		wg.Go(func() {
			if err := run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := up.Session().WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}

	w.f, w.srv, w.up = f, srv, up
	return w
}

// events returns the task events the broker has had so far.
func (w *wire) events() []task.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]task.Event(nil), w.got...)
}
