package backendtest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/kv"
	"github.com/tether-edge/tether/pkg/task"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func record(id, state string) *taskengine.Task {
	return &taskengine.Task{
		Spec:  task.Spec{ID: id, Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinCPU, Units: 5}},
		State: state, Submitted: t0, Updated: t0.Add(time.Minute),
	}
}

func running(id, node string) *taskengine.Task {
	t := record(id, task.StateRunning)
	t.Attempt, t.Node, t.Acked, t.Sends, t.SentAt = 1, node, true, 1, t0
	t.Attempts = []task.Attempt{{N: 1, Node: node, Assigned: t0, State: task.EventRunning}}
	t.Progress, t.Total, t.CheckpointAt, t.CheckpointTotal = 2, 5, 2, 5
	return t
}

func finished(id, state string) *taskengine.Task {
	t := record(id, state)
	switch state {
	case task.StateSucceeded:
		t.Result = &task.Result{Output: "ab12", WorkDone: 5, DurationMS: 900}
	case task.StateFailed:
		t.Error = "exit status 1"
	}
	return t
}

// ignoreClock: a fence's monotonic send time is not stored.
var ignoreClock = cmpopts.IgnoreUnexported(taskengine.Fence{})

// storeRoundTrip writes every kind of record with a Store on the backend
// and reads them back with OpenStoreOn on the backend opened again.
func (s suite) storeRoundTrip(t *testing.T) {
	b, dir := s.backend(t)
	st, ld, err := taskengine.OpenStoreOn(b, nil)
	if err != nil {
		t.Fatalf("OpenStoreOn, empty: %v", err)
	}
	if len(ld.Active)+len(ld.Checkpoints)+len(ld.Fences)+len(ld.Quarantine)+ld.Damaged != 0 {
		t.Fatalf("empty backend loaded %+v", ld)
	}
	wantGet(t, b, "v", []byte{0, 0, 0, 1}) // the schema version

	want := taskengine.Loaded{
		Active:      []*taskengine.Task{record("t-a1", task.StatePending), running("t-a2", "pi-a")},
		Checkpoints: map[string]*taskengine.Checkpoint{"t-a2": {Attempt: 1, Progress: 2, Total: 5, Data: []byte("state")}},
		Fences: []*taskengine.Fence{
			{Node: "pi-a", Task: "t-f3", Attempt: 1, Sends: 1, SentAt: t0},
			{Node: "pi-b", Task: "t-a2", Attempt: 2},
		},
		Quarantine: []*taskengine.Quarantine{{Node: "pi-c", Until: t0.Add(10 * time.Minute), Failures: 3}},
	}
	done := []*taskengine.Task{finished("t-f1", task.StateSucceeded), finished("t-f2", task.StateFailed), finished("t-f3", task.StateCancelled)}
	units, err := taskengine.RecordUnits(want, done)
	if err != nil {
		t.Fatal(err)
	}
	// t-f2 also under a/, as a version that split the move wrote it: it
	// is read as finished.
	stale, err := taskengine.RecordUnits(taskengine.Loaded{Active: []*taskengine.Task{running("t-f2", "pi-b")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(units); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := st.Commit(stale); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if st.Commits() != 2 || st.Writes() != uint64(len(units)+2) {
		t.Errorf("%d commits, %d writes; want 2, %d", st.Commits(), st.Writes(), len(units)+2)
	}
	checkFinished(t, st, done)
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	st, ld = s.openStore(t, dir)
	if d := cmp.Diff(want, ld, ignoreClock); d != "" {
		t.Errorf("loaded (-want +got):\n%s", d)
	}
	checkFinished(t, st, done)

	// t-a1 finishes: one unit sets f/ and deletes a/ and c/.
	f := finished("t-a1", task.StateCancelled)
	move, err := taskengine.RecordUnits(taskengine.Loaded{}, []*taskengine.Task{f})
	if err != nil {
		t.Fatal(err)
	}
	move[0] = append(move[0], taskengine.Write{Key: []byte("a/t-a1")}, taskengine.Write{Key: []byte("c/t-a1")})
	if err := st.Commit(move); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st, ld = s.openStore(t, dir)
	want.Active = want.Active[1:]
	if d := cmp.Diff(want, ld, ignoreClock); d != "" {
		t.Errorf("loaded after the move (-want +got):\n%s", d)
	}
	checkFinished(t, st, append([]*taskengine.Task{f}, done...))
}

// openStore opens the backend on dir again and a Store on it, closed when
// the test ends.
func (s suite) openStore(t *testing.T, dir string) (*taskengine.Store, taskengine.Loaded) {
	t.Helper()
	st, ld, err := taskengine.OpenStoreOn(s.openOn(t, dir), nil)
	if err != nil {
		t.Fatalf("OpenStoreOn: %v", err)
	}
	if ld.Damaged != 0 {
		t.Errorf("%d records damaged", ld.Damaged)
	}
	return st, ld
}

// checkFinished reads the finished tasks done (sorted by id) back one at a
// time and in pages.
func checkFinished(t *testing.T, st *taskengine.Store, done []*taskengine.Task) {
	t.Helper()
	for _, want := range done {
		got, err := st.Finished(want.Spec.ID)
		if err != nil {
			t.Fatalf("Finished(%s): %v", want.Spec.ID, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Finished(%s) (-want +got):\n%s", want.Spec.ID, d)
		}
	}
	for _, id := range []string{"t-a2", "t-none"} {
		if got, err := st.Finished(id); got != nil || err != nil {
			t.Errorf("Finished(%s) = %v, %v; want nil, nil", id, got, err)
		}
	}
	var all []*taskengine.Task
	for after := ""; ; {
		page, err := st.FinishedAfter(after, 2)
		if err != nil {
			t.Fatalf("FinishedAfter(%q): %v", after, err)
		}
		all = append(all, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].Spec.ID
	}
	if d := cmp.Diff(done, all); d != "" {
		t.Errorf("FinishedAfter pages (-want +got):\n%s", d)
	}
}

// storeRefusesUnversioned: records without a schema version are damage.
func (s suite) storeRefusesUnversioned(t *testing.T) {
	b, _ := s.backend(t)
	commit(t, b, taskengine.Unit{set("a/t1", "x")})
	_, _, err := taskengine.OpenStoreOn(b, nil)
	var ce *kv.CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("OpenStoreOn: %v, want a *kv.CorruptError", err)
	}
}

func (s suite) storeRefusesNewerSchema(t *testing.T) {
	b, _ := s.backend(t)
	commit(t, b, taskengine.Unit{{Key: []byte("v"), Value: []byte{0, 0, 0, 2}}})
	_, _, err := taskengine.OpenStoreOn(b, nil)
	if !errors.Is(err, taskengine.ErrNewerSchema) {
		t.Fatalf("OpenStoreOn: %v, want ErrNewerSchema", err)
	}
}
