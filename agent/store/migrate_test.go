package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/kv"
)

// legacy makes a harness write as the store did before blobs: large
// values into Badger's value log, no migration, with the device profile
// of then (4 MiB value-log files).
func legacy(o *Options) {
	o.legacyValues = true
	o.Profile = kv.Device()
	o.Profile.ValueLogFileSize = 4 << 20
}

// upgrade makes a harness open as this version does.
func upgrade(o *Options) {
	o.legacyValues = false
	o.Profile = kv.Device()
}

// content is everything a store holds that a migration must keep.
type content struct {
	ID          string
	LastSeq     uint64
	Records     []Record
	Tasks       []TaskState
	Checkpoints map[string][]byte
	Histories   map[string][]Transition
	Stats       OutboxStats
}

// diffContent is diff with byte slices compared as such: go-cmp walks
// them element by element, seconds for a few MiB of payloads.
func diffContent(t testing.TB, what string, want, got content) {
	t.Helper()
	if d := cmp.Diff(want, got, cmp.Comparer(bytes.Equal)); d != "" {
		t.Fatalf("%s (-want +got):\n%s", what, d)
	}
}

func contentOf(t testing.TB, s *Store) content {
	t.Helper()
	c := content{ID: s.ID(), LastSeq: s.LastSeq(), Records: pendingRecords(t, s),
		Checkpoints: map[string][]byte{}, Histories: map[string][]Transition{}, Stats: s.OutboxStats()}
	tasks, err := s.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	c.Tasks = tasks
	for _, st := range tasks {
		cp, ok, err := s.Checkpoint(st.Task)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			c.Checkpoints[st.Task] = cp
		}
		if c.Histories[st.Task], err = s.History(st.Task); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// writeLegacyStore fills h's store (opened with legacy) with large and
// small records and checkpoints, some of each deleted, and returns what
// it holds. Every large value is in Badger's value log.
func writeLegacyStore(t testing.TB, h *harness) content {
	t.Helper()
	ctx := context.Background()
	const big = 20 << 10
	var recs []Record
	for i := range 40 {
		recs = append(recs, mustAppend(t, h.s, KindTaskEvent, sized("tether/v1/n/tasks/x/status", big+i)))
		recs = append(recs, mustAppend(t, h.s, KindMetrics, sized("tether/v1/n/metrics", 700)))
	}
	for i := range 12 {
		task := fmt.Sprintf("task-%d", i)
		cp := make([]byte, big+i)
		if i%3 == 0 {
			cp = cp[:300] // small checkpoints stay in the LSM tree
		}
		for j := range cp {
			cp[j] = byte(i + j)
		}
		for n, to := range []string{"accepted", "running"} {
			tr := Transition{Attempt: 1, From: []string{"", "accepted"}[n], To: to, At: t0.Add(time.Duration(i) * time.Second)}
			if _, err := h.s.Journal(ctx, task, tr, cp, sized("tether/v1/n/tasks/"+task+"/status", 100)); err != nil {
				t.Fatalf("Journal: %v", err)
			}
		}
	}
	for i, r := range recs {
		if i%4 == 0 {
			if err := h.s.Ack(r.Seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 4 {
		if err := h.s.ForgetTask(fmt.Sprintf("task-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	h.reopen()
	if !h.s.DB().ValueLogInUse() {
		t.Fatal("a store written the old way holds nothing in Badger's value log")
	}
	if n := len(blobFiles(t, h.dir)); n > 0 {
		t.Fatalf("a store written the old way has %d blob files", n)
	}
	return contentOf(t, h.s)
}

// TestMigrationMovesLargeValuesOutOfTheValueLog: a store written before
// blobs, its large records and checkpoints in Badger's value log, is
// migrated at the first Open that can: every live record, task, history
// and checkpoint is there byte for byte, the large ones as blobs, the
// value log holds nothing, and the next Open does not migrate again.
func TestMigrationMovesLargeValuesOutOfTheValueLog(t *testing.T) {
	h := newHarness(t, legacy)
	want := writeLegacyStore(t, h)

	var steps []string
	upgrade(&h.opts)
	h.opts.migrateHook = func(step string) { steps = append(steps, step) }
	h.reopen()
	diff(t, "steps of the migration", []string{"copying", "built", "retired", "swapped", "removed"}, steps)
	if h.s.DB().ValueLogInUse() || h.s.Info().ValueLogInUse {
		t.Fatal("the migrated store still has values in Badger's value log")
	}
	want.Stats.Oldest = want.Stats.Oldest.UTC()
	diffContent(t, "content after the migration", want, contentOf(t, h.s))
	// 20 large records (of 40: every other one acknowledged) and 6 large
	// checkpoints (of 12: the first four forgotten, every third small).
	var large int
	for _, r := range want.Records {
		if len(r.Payload) >= 16<<10 {
			large++
		}
	}
	for _, cp := range want.Checkpoints {
		if len(cp) >= 16<<10 {
			large++
		}
	}
	if got := len(blobFiles(t, h.dir)); got != large || large != 20+6 {
		t.Errorf("%d blob files for %d large live values (want 26)", got, large)
	}
	for _, sib := range []string{h.dir + ".rebuild", h.dir + ".retired"} {
		if _, err := os.Stat(sib); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", sib, err)
		}
	}

	steps = nil
	h.reopen()
	if len(steps) > 0 || h.s.DB().ValueLogInUse() {
		t.Fatalf("a migrated store migrated again: %v", steps)
	}
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	h.s = nil
	if n := valueLogBytes(t, h.dir); n > 0 {
		t.Errorf("the value log holds %d bytes beyond its headers after the migration", n)
	}
	h.open()
	diffContent(t, "content after another open", want, contentOf(t, h.s))
}

// valueLogBytes is what Badger's value-log files in dir hold beyond their
// 20-byte headers, the store closed (Badger truncates them at Close).
func valueLogBytes(t testing.TB, dir string) int64 {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		n += max(fi.Size()-20, 0)
	}
	return n
}

// TestMigratedStoreKeepsDeletionsDeleted is TestDeletedStaysDeleted on a
// store written before blobs: the large values are acknowledged and
// forgotten there, in Badger's value log, with value-log garbage around
// them. Left as it is, value-log GC, a Flatten and a reopen bring deleted
// values back ("unmigrated", which fails if they stay gone: the
// reproduction must still reproduce); migrated first, none comes back,
// and neither do large values deleted after the migration.
func TestMigratedStoreKeepsDeletionsDeleted(t *testing.T) {
	for _, migrate := range []bool{false, true} {
		name := map[bool]string{false: "unmigrated", true: "migrated"}[migrate]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, legacy)
			const big = 20 << 10
			for range 10 {
				mustAppend(t, h.s, KindTaskEvent, sized("tether/v1/n/tasks/x/status", big))
			}
			var tasks []string
			for i := range 10 {
				task := fmt.Sprintf("task-%d", i)
				tasks = append(tasks, task)
				tr := Transition{Attempt: 1, To: "accepted", At: t0}
				if _, err := h.s.Journal(ctx, task, tr, make([]byte, big), sized("tether/v1/n/tasks/"+task+"/status", 100)); err != nil {
					t.Fatalf("Journal: %v", err)
				}
			}
			for range 400 {
				r := mustAppend(t, h.s, KindTaskEvent, sized("tether/v1/n/tasks/y/status", big))
				if err := h.s.Ack(r.Seq); err != nil {
					t.Fatal(err)
				}
			}
			settle(t, h)
			for _, r := range pendingRecords(t, h.s) {
				if err := h.s.Ack(r.Seq); err != nil {
					t.Fatal(err)
				}
			}
			for _, task := range tasks {
				if err := h.s.ForgetTask(task); err != nil {
					t.Fatal(err)
				}
			}
			h.reopen() // the tombstones in a level-0 table, the values below
			if migrate {
				upgrade(&h.opts)
				h.reopen()
				if h.s.DB().ValueLogInUse() {
					t.Fatal("value log in use after the migration")
				}
				var later []Record // deleted after the migration
				for range 5 {
					later = append(later, mustAppend(t, h.s, KindTaskEvent, sized("tether/v1/n/tasks/z/status", big)))
				}
				h.reopen()
				for _, r := range later {
					if err := h.s.Ack(r.Seq); err != nil {
						t.Fatal(err)
					}
				}
				for range 3 {
					h.reopen()
				}
			}
			n, err := h.s.DB().CollectGarbage(ctx)
			if err != nil {
				t.Fatalf("CollectGarbage: %v", err)
			}
			t.Logf("GC rewrote %d files", n)
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
			if !migrate {
				if len(back) == 0 {
					t.Fatal("nothing came back without the migration: the reproduction no longer reproduces")
				}
				t.Logf("without the migration %d deleted values came back: %s", len(back), strings.Join(back, ", "))
				return
			}
			if len(back) > 0 {
				t.Fatalf("%d deleted values came back after the migration: %v", len(back), back)
			}
			if left := blobFiles(t, h.dir); len(left) > 0 {
				t.Errorf("blobs left after every reference was deleted: %v", left)
			}
		})
	}
}
