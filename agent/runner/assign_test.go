package runner

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

func TestBuiltinRunsToItsOutput(t *testing.T) {
	f := newFixture(t, nil)
	spec := sleepSpec(5, 2, 0, true)
	f.submit(assignment("t1", 1, spec))
	done := f.waitState("t1", 1, task.EventSucceeded)
	if want := expected(*spec.Builtin); done.Result == nil || done.Result.Output != want {
		t.Fatalf("result %+v, want output %s", done.Result, want)
	}
	if done.Progress != 5 || done.Total != 5 || done.Result.WorkDone != 5 {
		t.Fatalf("progress %d/%d, work done %d; want 5/5, 5", done.Progress, done.Total, done.Result.WorkDone)
	}
	want := []string{task.EventAccepted, task.EventRunning, task.EventCheckpoint, task.EventCheckpoint,
		task.EventCheckpoint, task.EventCheckpoint, task.EventSucceeded} // every unit (5/10 → 1), not after the last
	if diff := cmp.Diff(want, states(of(f.events(), "t1"))); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	h, err := f.st.History("t1")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != len(want) || h[0].From != "" || h[len(h)-1].To != task.EventSucceeded {
		t.Fatalf("journal %+v", h)
	}
}

func TestRefusals(t *testing.T) {
	f := newFixture(t, nil)
	spec := sleepSpec(1, 1, 0, false)
	sign := func(a task.Assignment) task.Envelope {
		env, err := task.Sign(f.priv, a)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	encode := func(env task.Envelope) []byte {
		b, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	_, otherKey, _ := ed25519.GenerateKey(nil)

	unsigned := sign(assignment("unsigned", 1, spec))
	unsigned.Sig = make([]byte, ed25519.SignatureSize)
	tampered := sign(assignment("tampered", 1, spec))
	tampered.Body = []byte(strings.Replace(string(tampered.Body), `"units":1`, `"units":9`, 1))
	unknown, err := task.Sign(otherKey, assignment("unknown", 1, spec))
	if err != nil {
		t.Fatal(err)
	}
	wrongNode := assignment("wrong-node", 1, spec)
	wrongNode.Node = "n2"
	expired := assignment("expired", 1, spec)
	expired.Issued, expired.Expires = time.Now().Add(-3*time.Hour), time.Now().Add(-2*time.Hour)
	notAllowed := assignment("not-allowed", 1, task.Spec{Kind: task.KindExec, Exec: &task.Exec{Command: "/bin/sh"}})

	cases := []struct {
		payload   []byte
		task      string // in the refusal
		attempt   uint32
		errSubstr string
	}{
		{[]byte("garbage"), UnverifiedTask, 1, "not a signed assignment"},
		{encode(unsigned), UnverifiedTask, 1, "bad signature"},
		{encode(tampered), UnverifiedTask, 1, "bad signature"},
		{encode(unknown), UnverifiedTask, 1, "not pinned"},
		{encode(sign(wrongNode)), "wrong-node", 1, `for node "n2"`},
		{encode(sign(expired)), "expired", 1, "expired"},
		{encode(sign(notAllowed)), "not-allowed", 1, "not on this node's allowlist"},
	}
	for _, c := range cases {
		f.r.Submit(c.payload)
	}
	testenv.Eventually(t, 10*time.Second, "a refusal of every case", func() bool { return len(f.events()) >= len(cases) })
	evs := f.events()
	if len(evs) != len(cases) {
		t.Fatalf("%d events, want %d refusals:\n%s", len(evs), len(cases), describe(evs))
	}
	for i, c := range cases {
		ev := evs[i]
		if ev.State != task.EventRefused || ev.Task != c.task || ev.Attempt != c.attempt || !strings.Contains(ev.Error, c.errSubstr) {
			t.Errorf("case %d: event %s %s attempt %d error %q; want refused %s attempt %d, error with %q",
				i, ev.State, ev.Task, ev.Attempt, ev.Error, c.task, c.attempt, c.errSubstr)
		}
	}
	if strings.Contains(evs[2].Error, "tampered") {
		t.Errorf("the refusal of an unverifiable assignment repeats its unverified body: %q", evs[2].Error)
	}
	if !strings.Contains(evs[3].Error, "body sha256 ") {
		t.Errorf("the refusal of an unverifiable assignment does not name its body's digest: %q", evs[3].Error)
	}
	tasks, err := f.st.Tasks()
	if err != nil || len(tasks) != 0 {
		t.Fatalf("refused assignments left journal entries: %v %+v", err, tasks)
	}
}

// TestUnverifiableFloodIsRateLimited: on a clock that stands still, a
// flood of 100 garbage commands costs limitBurst refusal events and no
// more; the rest are denied (refused or dropped) without one.
func TestUnverifiableFloodIsRateLimited(t *testing.T) {
	now := time.Now()
	f := newFixture(t, func(o *Options) { o.Now = func() time.Time { return now } })
	for i := range limitBurst { // one at a time: none dropped from the small inbox
		f.r.Submit([]byte("garbage"))
		testenv.Eventually(t, 10*time.Second, "a refusal event", func() bool { return len(f.events()) == i+1 })
	}
	for range 100 - limitBurst {
		f.r.Submit([]byte("garbage"))
	}
	denied := func() int {
		f.r.limits.mu.Lock()
		defer f.r.limits.mu.Unlock()
		return f.r.limits.dropped
	}
	testenv.Eventually(t, 10*time.Second, "the rest denied", func() bool { return denied() == 100-limitBurst })
	if n := len(f.events()); n != limitBurst {
		t.Fatalf("%d refusals for 100 garbage commands, want %d", n, limitBurst)
	}
}

func TestDuplicateAssignmentRunsOnce(t *testing.T) {
	f := newFixture(t, nil)
	payload := f.sign(assignment("dup", 1, sleepSpec(1000, 10, 0, false)))
	f.r.Submit(payload)
	f.waitState("dup", 1, task.EventRunning)
	f.r.Submit(payload) // QoS 1 delivers it again
	f.waitFor("dup", func(task.Event) bool { return len(of(f.events(), "dup")) == 3 })
	f.submit(cancelAssignment("dup", 1))
	f.waitState("dup", 1, task.EventCancelled)
	f.r.Submit(payload) // and once more after the end
	f.waitFor("dup", func(task.Event) bool { return len(of(f.events(), "dup")) == 5 })

	evs := of(f.events(), "dup")
	want := []string{task.EventAccepted, task.EventRunning, task.EventRunning, task.EventCancelled, task.EventCancelled}
	if diff := cmp.Diff(want, states(evs)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	if evs[4].Result == nil || evs[4].Result.WorkDone != evs[3].Result.WorkDone || evs[4].Error != evs[3].Error {
		t.Fatalf("the repeated end is not the end: %+v, %q", evs[4].Result, evs[4].Error)
	}
	h, err := f.st.History("dup")
	if err != nil {
		t.Fatal(err)
	}
	if got := states(transitionsAsEvents(h)); !cmp.Equal(got, []string{task.EventAccepted, task.EventRunning, task.EventCancelled}) {
		t.Fatalf("journal %v: the task ran more than once", got)
	}
}

func TestHigherAttemptCancelsTheLowerFirst(t *testing.T) {
	f := newFixture(t, nil)
	f.submit(assignment("fence", 1, sleepSpec(1000, 10, 0, false)))
	f.waitState("fence", 1, task.EventRunning)
	f.submit(assignment("fence", 2, sleepSpec(2, 1, 0, false)))
	f.waitState("fence", 2, task.EventSucceeded)
	f.submit(assignment("fence", 1, sleepSpec(2, 1, 0, false))) // stale now
	stale := f.waitState("fence", 1, task.EventRefused)
	if !strings.Contains(stale.Error, "stale") {
		t.Fatalf("stale attempt refused with %q", stale.Error)
	}
	var got []string
	for _, e := range of(f.events(), "fence") {
		got = append(got, e.State+"/"+itoa(int64(e.Attempt)))
	}
	want := []string{"accepted/1", "running/1", "cancelled/1", "accepted/2", "running/2", "succeeded/2", "refused/1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
}

func TestCancel(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Slots = 1 })
	f.submit(assignment("long", 1, sleepSpec(1000, 10, 0, false)))
	f.submit(assignment("queued", 1, sleepSpec(1, 1, 0, false)))
	f.waitState("long", 1, task.EventRunning)
	f.waitState("queued", 1, task.EventAccepted)
	f.submit(cancelAssignment("queued", 1))
	f.waitState("queued", 1, task.EventCancelled)
	f.submit(cancelAssignment("long", 1))
	c := f.waitState("long", 1, task.EventCancelled)
	if c.Result == nil || c.Result.WorkDone >= 1000 || !strings.Contains(c.Error, "cancelled by the scheduler") {
		t.Fatalf("cancelled event %+v (result %+v)", c, c.Result)
	}
	f.submit(cancelAssignment("long", 1)) // again: answered with the end
	f.submit(cancelAssignment("nobody", 3))
	unknown := f.waitState("nobody", 3, task.EventCancelled)
	if !strings.Contains(unknown.Error, "not known") {
		t.Fatalf("cancel of an unknown task answered %+v", unknown)
	}
	if got := states(of(f.events(), "long")); !cmp.Equal(got, []string{"accepted", "running", "cancelled", "cancelled"}) {
		t.Fatalf("long: %v", got)
	}
	if got := states(of(f.events(), "queued")); !cmp.Equal(got, []string{"accepted", "cancelled"}) {
		t.Fatalf("queued: %v (it must never run)", got)
	}
}

// TestSlotsQueueInArrivalOrder fills two slots with long tasks and ends
// them one by one: each end starts the oldest waiting task, never more
// than two run.
func TestSlotsQueueInArrivalOrder(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Slots = 2 })
	ids := []string{"q1", "q2", "q3", "q4", "q5"}
	for _, id := range ids {
		f.submit(assignment(id, 1, sleepSpec(1000, 10, 0, false)))
	}
	for _, id := range ids {
		f.waitState(id, 1, task.EventAccepted)
	}
	// Before each cancel both slots' tasks have reported running: a slot
	// granted earlier can report later than one granted after it (the
	// running event follows the input fetch, on the task's goroutine), so
	// without this the events' order would not be the grant order. A
	// grant out of order leaves the next task waiting here for ever.
	for i, id := range ids {
		f.waitState(id, 1, task.EventRunning)
		if i+1 < len(ids) {
			f.waitState(ids[i+1], 1, task.EventRunning)
		}
		f.submit(cancelAssignment(id, 1))
		f.waitState(id, 1, task.EventCancelled)
	}
	running, most := 0, 0
	var startOrder []string
	for _, e := range f.events() {
		switch e.State {
		case task.EventRunning:
			running++
			most = max(most, running)
			startOrder = append(startOrder, e.Task)
		case task.EventCancelled:
			running--
		}
	}
	if most != 2 {
		t.Fatalf("at most %d ran at once, want 2 (the slots)", most)
	}
	// q1 and q2 take the two free slots together: either may report first.
	if len(startOrder) == len(ids) && startOrder[0] == "q2" && startOrder[1] == "q1" {
		startOrder[0], startOrder[1] = "q1", "q2"
	}
	if diff := cmp.Diff(ids, startOrder); diff != "" {
		t.Fatalf("start order (-want +got):\n%s", diff)
	}
}

func TestFinishedTasksAreForgotten(t *testing.T) {
	clock := time.Now()
	var mu = make(chan struct{}, 1)
	now := func() time.Time {
		mu <- struct{}{}
		defer func() { <-mu }()
		return clock
	}
	advance := func(d time.Duration) {
		mu <- struct{}{}
		clock = clock.Add(d)
		<-mu
	}
	f := newFixture(t, func(o *Options) { o.Now = now; o.ForgetInterval = 10 * time.Millisecond; o.Retention = 48 * time.Hour })
	f.submit(assignment("acked", 1, sleepSpec(1, 1, 0, false)))
	f.submit(assignment("unacked", 1, sleepSpec(1, 1, 0, false)))
	f.waitState("acked", 1, task.EventSucceeded)
	f.waitState("unacked", 1, task.EventSucceeded)
	st, _, err := f.st.TaskState("acked")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.Ack(st.Seq); err != nil { // the broker's PUBACK, as the uplink passes it on
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // kept: a few forget passes (every 10 ms) that must not forget it
	if _, found, _ := f.st.TaskState("acked"); !found {
		t.Fatal("forgotten while its assignment still verifies: a replay would run it again")
	}
	advance(2 * time.Hour) // past the assignments' expiry
	testenv.Eventually(t, 10*time.Second, "the acknowledged task forgotten", func() bool { _, found, _ := f.st.TaskState("acked"); return !found })
	if _, found, _ := f.st.TaskState("unacked"); !found {
		t.Fatal("forgotten before the broker had its end, and within the retention")
	}
	advance(48 * time.Hour)
	testenv.Eventually(t, 10*time.Second, "the unacknowledged task forgotten", func() bool { _, found, _ := f.st.TaskState("unacked"); return !found })
	if _, found, _ := f.st.Checkpoint("unacked"); found {
		t.Fatal("the saved state outlived the task")
	}
}
