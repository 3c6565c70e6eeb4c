package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDeletedStaysDeleted: outbox records and checkpoints larger than the
// device profile's 16 KiB ValueThreshold, acknowledged (the records) and
// forgotten (the tasks), stay gone through value-log garbage collection, a
// Flatten and a clean close and open. Badger's value-log GC writes back a
// value it finds live at the value's own version, older than the tombstone
// that deleted it; once compaction drops that tombstone, the value is back.
func TestDeletedStaysDeleted(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	const big = 20 << 10 // over ValueThreshold

	for range 10 {
		mustAppend(t, h.s, KindTaskEvent, sized("tether/v1/n/tasks/x/status", big))
	}
	var tasks []string
	for i := range 10 {
		task := fmt.Sprintf("task-%d", i)
		tasks = append(tasks, task)
		tr := Transition{Attempt: 1, From: "", To: "accepted", At: time.Now()}
		if _, err := h.s.Journal(ctx, task, tr, make([]byte, big), sized("tether/v1/n/tasks/"+task+"/status", 100)); err != nil {
			t.Fatalf("Journal: %v", err)
		}
	}
	// Large values after them, acknowledged and compacted away: garbage
	// that makes the value-log files worth collecting.
	for range 400 {
		r := mustAppend(t, h.s, KindTaskEvent, sized("tether/v1/n/tasks/y/status", big))
		if err := h.s.Ack(r.Seq); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	settle(t, h)
	// Now the deletions: their tombstones reach a table above the values.
	for _, r := range pendingRecords(t, h.s) {
		if err := h.s.Ack(r.Seq); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	for _, task := range tasks {
		if err := h.s.ForgetTask(task); err != nil {
			t.Fatalf("ForgetTask: %v", err)
		}
	}
	// One reopen: the tombstones in a level-0 table above the values when
	// GC runs. After three, nothing came back even with the values in the
	// value log (2026-12-07): the open's first compaction had merged the
	// tombstones with the values first. TestMigratedStoreKeepsDeletionsDeleted
	// ("unmigrated") asserts that this reproduces without blobs.
	h.reopen()
	// With values in Badger's value log this rewrites the first file and
	// writes the deleted values back; with blobs there is nothing to do.
	if _, err := h.s.DB().CollectGarbage(ctx); err != nil {
		t.Fatalf("CollectGarbage: %v", err)
	}
	flatten(t, h.s)
	h.reopen()
	var back []string
	for _, r := range pendingRecords(t, h.s) {
		back = append(back, fmt.Sprintf("record %d", r.Seq))
	}
	for _, task := range tasks {
		if _, ok, err := h.s.Checkpoint(task); err != nil || ok {
			back = append(back, fmt.Sprintf("checkpoint of %s (err %v)", task, err))
		}
	}
	if len(back) > 0 {
		t.Fatalf("%d deleted values came back: %v", len(back), back)
	}
	if left := blobFiles(t, h.dir); len(left) > 0 {
		t.Errorf("blobs left after every reference was deleted: %v", left)
	}
}

func blobFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, blobDir))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func pendingRecords(t testing.TB, s *Store) []Record {
	t.Helper()
	recs, err := s.Pending(0, 1<<20)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return recs
}

func flatten(t testing.TB, s *Store) {
	t.Helper()
	if err := s.DB().Flatten(1); err != nil {
		t.Fatalf("Flatten: %v", err)
	}
}

// settle moves everything into one level of tables: each close flushes the
// memtable into a level-0 table, and Flatten merges level 0 down once it
// holds more tables than NumLevelZeroTables.
func settle(t testing.TB, h *harness) {
	t.Helper()
	for range 3 {
		h.reopen()
	}
	flatten(t, h.s)
}
