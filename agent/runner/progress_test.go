//go:build unix

package runner

import (
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// ackAll acknowledges every record in the outbox, as a connected uplink
// does once the broker has it.
func (f *fixture) ackAll() {
	f.t.Helper()
	recs, err := f.st.Pending(0, 100000)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, r := range recs {
		if err := f.st.Ack(r.Seq); err != nil {
			f.t.Fatal(err)
		}
	}
}

// waitProgress waits for a progress event of id's attempt 1 that ok
// accepts, acknowledging the outbox meanwhile so the next one may go.
func (f *fixture) waitProgress(id string, ok func(task.Event) bool) task.Event {
	f.t.Helper()
	var found task.Event
	if !testenv.Within(20*time.Second, func() bool {
		recs, err := f.st.Pending(0, 100000)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, e := range of(f.events(), id) {
			if e.State == task.EventProgress && ok(e) {
				found = e
				return true
			}
		}
		for _, r := range recs {
			if err := f.st.Ack(r.Seq); err != nil {
				f.t.Fatal(err)
			}
		}
		return false
	}) {
		f.t.Fatalf("no such progress event of %s", id)
	}
	return found
}

// TestBuiltinReportsProgressBetweenCheckpoints: a builtin that is not
// checkpointable reports its units done every ProgressInterval in
// progress events, which move forward and carry no checkpoint.
func TestBuiltinReportsProgressBetweenCheckpoints(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.ProgressInterval = 20 * time.Millisecond })
	f.submit(assignment("slow", 1, sleepSpec(100000, 10, 0, false)))
	first := f.waitProgress("slow", func(e task.Event) bool { return e.Progress > 0 })
	later := f.waitProgress("slow", func(e task.Event) bool { return e.Progress > first.Progress })
	for _, e := range []task.Event{first, later} {
		if e.Total != 100000 || e.Attempt != 1 || len(e.Checkpoint) > 0 || e.Resumed {
			t.Fatalf("progress event %+v: want 1 attempt, total 100000, no checkpoint", e)
		}
	}
	f.submit(cancelAssignment("slow", 1))
	f.waitState("slow", 1, task.EventCancelled)
}

// TestExecProgressFile: an exec task that is not checkpointable writes
// its progress file; the agent reports what it says.
func TestExecProgressFile(t *testing.T) {
	sh := script(t, `echo "progress 7 10" > "$TETHER_PROGRESS_FILE"
exec sleep 30
`)
	f := newFixture(t, func(o *Options) {
		o.ProgressInterval = 20 * time.Millisecond
		o.Allow = []string{sh}
	})
	f.submit(assignment("job", 1, execSpec(sh, nil)))
	f.waitProgress("job", func(e task.Event) bool { return e.Progress == 7 && e.Total == 10 })
	f.submit(cancelAssignment("job", 1))
	f.waitState("job", 1, task.EventCancelled)
}

// TestProgressWaitsForTheOutbox: while the attempt's last progress event
// is still in the outbox (the broker is away), no other is added; once it
// is acknowledged the next one goes.
func TestProgressWaitsForTheOutbox(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.ProgressInterval = -1 })
	r, err := New(f.options()) // not run: reportProgress is called here
	if err != nil {
		t.Fatal(err)
	}
	e := &entry{id: "held", state: task.EventRunning, sv: saved{Attempt: 1}}
	count := func() int {
		n := 0
		for _, ev := range of(f.events(), "held") {
			if ev.State == task.EventProgress {
				n++
			}
		}
		return n
	}
	r.reportProgress(e, 1, 10)
	r.reportProgress(e, 2, 10)
	r.reportProgress(e, 3, 10)
	if n := count(); n != 1 {
		t.Fatalf("%d progress events while the first is unacknowledged, want 1", n)
	}
	f.ackAll()
	r.reportProgress(e, 4, 10)
	evs := of(f.events(), "held")
	if len(evs) != 1 || evs[0].State != task.EventProgress || evs[0].Progress != 4 {
		t.Fatalf("after the acknowledgement: %s; want one progress event at 4", describe(evs))
	}
	e.state = task.EventSucceeded
	f.ackAll()
	r.reportProgress(e, 10, 10)
	if n := count(); n != 0 {
		t.Fatalf("%d progress events of an ended attempt, want 0", n)
	}
}
