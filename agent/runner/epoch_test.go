package runner

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

func withEpoch(a task.Assignment, epoch uint64) task.Assignment {
	a.Epoch = epoch
	return a
}

// settle submits a quick epoch-0 task and waits for its end: the runner
// handles its inbox in order, so every assignment submitted before it has
// been handled.
func (f *fixture) settle(id string) {
	f.t.Helper()
	f.submit(assignment(id, 1, sleepSpec(1, 1, 0, false)))
	f.waitState(id, 1, task.EventSucceeded)
}

func noEvents(t *testing.T, f *fixture, id string) {
	t.Helper()
	if evs := of(f.events(), id); len(evs) != 0 {
		t.Fatalf("task %s has events:\n%s", id, describe(evs))
	}
	if h, err := f.st.History(id); err != nil || len(h) != 0 {
		t.Fatalf("task %s is in the journal: %+v, %v", id, h, err)
	}
}

// A deposed leader's assignments — a run, a cancel — are refused once a
// later leader's was accepted, also after a restart; epoch 0 is always
// accepted.
func TestStaleEpochRefused(t *testing.T) {
	f := newFixture(t, nil)
	long := sleepSpec(400, 20, 0, false) // 8 s: still running when it is cancelled
	f.submit(withEpoch(assignment("t5", 1, long), 5))
	f.waitState("t5", 1, task.EventRunning)
	if e := f.st.Epoch(); e != 5 {
		t.Fatalf("store epoch %d after an epoch-5 assignment, want 5", e)
	}

	f.submit(withEpoch(assignment("t3", 1, sleepSpec(1, 1, 0, false)), 3))
	f.submit(withEpoch(cancelAssignment("t5", 1), 3))
	f.settle("zero-1") // epoch 0: accepted with epoch 5 the highest
	noEvents(t, f, "t3")
	for _, e := range of(f.events(), "t5") {
		if e.State == task.EventCancelled || terminal(e.State) {
			t.Fatalf("an epoch-3 cancel ended the epoch-5 task:\n%s", describe(of(f.events(), "t5")))
		}
	}
	if n := f.r.StaleEpochs(); n != 2 {
		t.Fatalf("%d stale assignments counted, want 2", n)
	}
	if e := f.st.Epoch(); e != 5 {
		t.Fatalf("store epoch %d, want 5", e)
	}

	// The same leader's cancel is acted on: the refusal above was the
	// epoch's doing.
	f.submit(withEpoch(cancelAssignment("t5", 1), 5))
	f.waitState("t5", 1, task.EventCancelled)

	f.restart()
	if e := f.st.Epoch(); e != 5 {
		t.Fatalf("store epoch %d after a restart, want 5", e)
	}
	f.submit(withEpoch(assignment("t3-again", 1, sleepSpec(1, 1, 0, false)), 3))
	f.settle("zero-2")
	noEvents(t, f, "t3-again")
	if n := f.r.StaleEpochs(); n != 1 {
		t.Fatalf("%d stale assignments counted after the restart, want 1", n)
	}
	f.submit(withEpoch(assignment("t6", 1, sleepSpec(1, 1, 0, false)), 6))
	f.waitState("t6", 1, task.EventSucceeded)
	if e := f.st.Epoch(); e != 6 {
		t.Fatalf("store epoch %d after an epoch-6 assignment, want 6", e)
	}
}

// Only a verified assignment moves the epoch: an envelope signed by an
// unpinned key, one whose body was changed after signing, and a signed one
// for another node or past its window, each claiming epoch 9, leave it
// where it was, and epoch 7 is accepted afterwards.
func TestUnverifiedEpochRaisesNothing(t *testing.T) {
	f := newFixture(t, nil)
	spec := sleepSpec(1, 1, 0, false)
	f.submit(withEpoch(assignment("t4", 1, spec), 4))
	f.waitState("t4", 1, task.EventSucceeded)

	_, otherKey, _ := ed25519.GenerateKey(nil)
	forged, err := task.Sign(otherKey, withEpoch(assignment("forged", 1, spec), 9))
	if err != nil {
		t.Fatal(err)
	}
	tampered, err := task.Sign(f.priv, withEpoch(assignment("tampered", 1, spec), 4))
	if err != nil {
		t.Fatal(err)
	}
	tampered.Body = []byte(strings.Replace(string(tampered.Body), `"epoch":4`, `"epoch":9`, 1))
	if !strings.Contains(string(tampered.Body), `"epoch":9`) {
		t.Fatalf("body not tampered: %s", tampered.Body)
	}
	// The key id of a pinned key, with no signature at all.
	unsigned := task.Envelope{V: task.Version, Key: task.KeyID(f.pub), Body: tampered.Body}
	for _, env := range []task.Envelope{forged, tampered, unsigned} {
		b, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		f.r.Submit(b)
	}
	wrongNode := withEpoch(assignment("wrong-node", 1, spec), 9)
	wrongNode.Node = "n2"
	f.submit(wrongNode)
	expired := withEpoch(assignment("expired", 1, spec), 9)
	expired.Issued, expired.Expires = time.Now().Add(-3*time.Hour), time.Now().Add(-2*time.Hour)
	f.submit(expired)
	f.settle("zero")
	if e := f.st.Epoch(); e != 4 {
		t.Fatalf("store epoch %d after unverified assignments claiming 9, want 4", e)
	}
	refused := 0
	for _, e := range f.events() {
		if e.State == task.EventRefused {
			refused++
		}
	}
	if refused != 5 {
		t.Fatalf("%d refusals, want 5 (each failed verification):\n%s", refused, describe(f.events()))
	}
	f.submit(withEpoch(assignment("t7", 1, spec), 7))
	f.waitState("t7", 1, task.EventSucceeded)
	if e := f.st.Epoch(); e != 7 {
		t.Fatalf("store epoch %d, want 7", e)
	}
	if n := f.r.StaleEpochs(); n != 0 {
		t.Fatalf("%d stale assignments counted, want 0", n)
	}
}

// failingEpoch is the agent's store failing to make an epoch durable.
type failingEpoch struct{ Store }

var errEpochWrite = errors.New("epoch write failed")

func (failingEpoch) RaiseEpoch(uint64) error { return errEpochWrite }

// An assignment whose higher epoch cannot be stored is not acted on: the
// node would otherwise run a task it could forget the epoch of.
func TestEpochNotStoredNotActedOn(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Store = failingEpoch{o.Store} })
	f.submit(withEpoch(assignment("t5", 1, sleepSpec(1, 1, 0, false)), 5))
	f.settle("zero")
	noEvents(t, f, "t5")
}

// Over the wire, as the agent runs: through a broker, a deposed leader's
// run and cancel change nothing on the node and draw no event.
func TestStaleEpochOverMQTT(t *testing.T) {
	w := newWire(t)
	send := func(a task.Assignment) {
		t.Helper()
		if err := w.srv.Publish("tether/v1/r1/nodes/n1/cmd/task", w.f.sign(a), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	has := func(id, state string) bool {
		for _, e := range w.events() {
			if e.Task == id && e.State == state {
				return true
			}
		}
		return false
	}
	send(withEpoch(assignment("t5", 1, sleepSpec(400, 20, 0, false)), 5))
	testenv.Eventually(t, 10*time.Second, "t5 running", func() bool { return has("t5", task.EventRunning) })
	send(withEpoch(assignment("t3", 1, sleepSpec(1, 1, 0, false)), 3))
	send(withEpoch(cancelAssignment("t5", 1), 3))
	send(assignment("zero", 1, sleepSpec(1, 1, 0, false)))
	testenv.Eventually(t, 10*time.Second, "the epoch-0 task done", func() bool { return has("zero", task.EventSucceeded) })
	for _, e := range w.events() {
		if e.Task == "t3" || e.Task == "t5" && e.State != task.EventAccepted && e.State != task.EventRunning {
			t.Fatalf("a stale assignment was acted on or answered: %s attempt %d %s", e.Task, e.Attempt, e.State)
		}
	}
	send(withEpoch(cancelAssignment("t5", 1), 5))
	testenv.Eventually(t, 10*time.Second, "t5 cancelled by its own epoch", func() bool { return has("t5", task.EventCancelled) })
}
