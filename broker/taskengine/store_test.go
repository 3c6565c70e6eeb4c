package taskengine

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"testing"

	"github.com/tether-edge/tether/pkg/roundtrip"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

func TestStoreRoundTrip(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tasks")
	st, ld, _, err := openStore(dir, testProfile(), testenv.Logger(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	if len(ld.Active) != 0 {
		t.Fatalf("fresh store holds %d tasks", len(ld.Active))
	}
	// Many units: more than one Badger transaction's worth.
	var units []Unit
	big := make([]byte, 32<<10)
	for i := range 400 {
		tk := &Task{Spec: builtin(fmt.Sprintf("t%04d", i), 1), State: task.StatePending, Submitted: t0, Updated: t0}
		tk.Spec.Exec = nil
		v, err := encodeTask(tk)
		if err != nil {
			t.Fatal(err)
		}
		cv, _ := frame(formatCheckpoint, &Checkpoint{Attempt: 1, Progress: 1, Data: big})
		units = append(units, Unit{{Key: activeKey(tk.Spec.ID), Value: v}, {Key: checkpointKey(tk.Spec.ID), Value: cv}})
	}
	f, _ := frame(formatFence, &Fence{Node: "pi-a", Task: "t0001", Attempt: 2})
	units = append(units, Unit{{Key: fenceKey("pi-a", "t0001"), Value: f}})
	if err := st.Commit(units); err != nil {
		t.Fatal(err)
	}
	if n := st.b.(*badgerBackend).txns.Load(); n < 2 {
		t.Fatalf("%d transactions for %d KiB: the batch was not split", n, 400*32)
	}
	if st.Commits() != 1 || st.Writes() != 801 {
		t.Fatalf("%d commits, %d writes: want 1 and 801", st.Commits(), st.Writes())
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, ld, _, err = openStore(dir, testProfile(), testenv.Logger(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if len(ld.Active) != 400 || len(ld.Checkpoints) != 400 || len(ld.Fences) != 1 || ld.Fences[0].Attempt != 2 || ld.Damaged != 0 {
		t.Fatalf("loaded %d tasks, %d checkpoints, fences %+v, %d damaged", len(ld.Active), len(ld.Checkpoints), ld.Fences, ld.Damaged)
	}
}

// TestStoreDamagedRecordSkipped: a record that does not read back is
// skipped and counted; the others load.
func TestStoreDamagedRecordSkipped(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tasks")
	st, _, _, err := openStore(dir, testProfile(), testenv.Logger(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	good, _ := encodeTask(&Task{Spec: builtin("good", 1), State: task.StatePending, Submitted: t0, Updated: t0})
	bad := append([]byte(nil), good...)
	bad[len(bad)/2] ^= 0xff
	wrongID, _ := encodeTask(&Task{Spec: builtin("other", 1), State: task.StatePending})
	err = st.Commit([]Unit{{{Key: activeKey("good"), Value: good}}, {{Key: activeKey("bad"), Value: bad}},
		{{Key: activeKey("renamed"), Value: wrongID}}, {{Key: []byte("x/nodeonly"), Value: []byte{1}}}})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, ld, rec, err := openStore(dir, testProfile(), testenv.Logger(t, slog.LevelWarn))
	if err != nil || rec != nil {
		t.Fatalf("open: %v %+v", err, rec)
	}
	defer st.Close()
	if len(ld.Active) != 1 || ld.Active[0].Spec.ID != "good" || ld.Damaged != 3 {
		t.Fatalf("loaded %d (%v), damaged %d", len(ld.Active), ld.Active, ld.Damaged)
	}
}

func TestStoreNewerSchemaRefused(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tasks")
	st, _, _, err := openStore(dir, testProfile(), testenv.Logger(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit([]Unit{{{Key: keyVersion, Value: u32Value(schemaVersion + 1)}}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, _, _, err = openStore(dir, testProfile(), testenv.Logger(t, slog.LevelWarn))
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("open: %v, want ErrNewerSchema", err)
	}
}

func FuzzDecodeTask(f *testing.F) {
	v, _ := encodeTask(&Task{Spec: builtin("t1", 5), State: task.StateRunning, Attempt: 1, Node: "pi-a",
		Attempts: []task.Attempt{{N: 1, Node: "pi-a", Assigned: t0, State: task.EventRunning}}})
	f.Add(v)
	f.Add([]byte{formatTask})
	for _, s := range hostileTimes {
		tk := storedTask()
		tk.Updated = hostileTime(f, s)
		v, _ := encodeTask(tk)
		f.Add(v)
	}
	tk := storedTask()
	tk.Progress, tk.Total, tk.Attempt = math.MaxInt64, math.MaxInt64, math.MaxUint32
	v, _ = encodeTask(tk)
	f.Add(v)
	f.Fuzz(func(t *testing.T, b []byte) {
		// What decodes encodes again, to the same record.
		tk, err := decodeTask("t1", b)
		if err != nil {
			return
		}
		roundtrip.Check(t, tk, encodeTask, func(b []byte) (*Task, error) { return decodeTask("t1", b) })
	})
}
