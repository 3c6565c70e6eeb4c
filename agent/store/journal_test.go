package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A journal entry is all or nothing: a commit that fails leaves neither the
// transition, nor the checkpoint, nor the event; its seq is a gap.
func TestJournalAtomicWhenTheCommitFails(t *testing.T) {
	var fail atomic.Bool
	h := newHarness(t, func(o *Options) {
		o.failpoint = func(point string) error {
			if point == "commit" && fail.Load() {
				return errFailpoint
			}
			return nil
		}
	})
	ctx := context.Background()
	if _, err := h.s.Journal(ctx, "t", Transition{Attempt: 1, To: "running"}, []byte("cp1"), payload("a/b")); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	_, err := h.s.Journal(ctx, "t", Transition{Attempt: 1, From: "running", To: "done"}, []byte("cp2"), payload("a/b"))
	if !errors.Is(err, errFailpoint) {
		t.Fatalf("Journal with a failing commit = %v", err)
	}
	fail.Store(false)
	assertTask(t, h.s, "running", 1, "cp1")
	r, err := h.s.Journal(ctx, "t", Transition{Attempt: 1, From: "running", To: "done"}, nil, payload("a/b"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 3 {
		t.Fatalf("seq after a failed commit = %d, want 3 (2 is a gap)", r.Seq)
	}
	h.reopen()
	assertTask(t, h.s, "done", 2, "cp1")
	diff(t, "events", []uint64{1, 3}, pendingSeqs(t, h.s))
}

// A failure while a batch is planned fails that entry only; the others of
// the batch commit.
func TestJournalFailureInABatch(t *testing.T) {
	var calls atomic.Int32
	h := newHarness(t, func(o *Options) {
		o.CommitInterval = 100 * time.Millisecond // the writers below share a batch
		o.AckInterval = time.Second
		o.failpoint = func(point string) error {
			if point == "journal" && calls.Add(1) == 2 {
				return errFailpoint
			}
			return nil
		}
	})
	mustAppend(t, h.s, KindMetrics, payload("a/b")) // the next commit waits its window
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, task := range []string{"x", "y", "z"} {
		wg.Go(func() {
			_, errs[i] = h.s.Journal(ctx, task, Transition{Attempt: 1, To: "running"}, []byte(task), payload("a/b"))
		})
	}
	wg.Wait()
	var failed int
	for _, err := range errs {
		if errors.Is(err, errFailpoint) {
			failed++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if failed != 1 {
		t.Fatalf("%d journal entries failed, want 1: %v", failed, errs)
	}
	h.reopen()
	tasks, err := h.s.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 || len(pendingSeqs(t, h.s)) != 3 {
		t.Fatalf("after one of three failed: tasks %v, pending %v", tasks, pendingSeqs(t, h.s))
	}
	for _, st := range tasks {
		assertTask(t, h.s, "running", 1, st.Task)
	}
}

func assertTask(t *testing.T, s *Store, state string, transitions uint32, checkpoint string) {
	t.Helper()
	task := "t"
	if len(checkpoint) == 1 {
		task = checkpoint
	}
	st, ok, err := s.TaskState(task)
	if err != nil || !ok || st.State != state || st.Transitions != transitions {
		t.Fatalf("TaskState(%s) = %+v, %v, %v; want %s after %d transitions", task, st, ok, err, state, transitions)
	}
	cp, ok, err := s.Checkpoint(task)
	if err != nil || !ok || string(cp) != checkpoint {
		t.Fatalf("Checkpoint(%s) = %q, %v, %v; want %q", task, cp, ok, err, checkpoint)
	}
	hist, err := s.History(task)
	if err != nil || uint32(len(hist)) != transitions {
		t.Fatalf("History(%s) = %v, %v", task, hist, err)
	}
}

// Everything Append and Journal returned is in a copy of the store's files
// taken while it is open, as a crash (kill -9) would leave them: each
// commit was synced before it returned. (A power cut is the VM harness's.)
func TestCrashImageHasEveryCommit(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var want []uint64
	for i := range 60 {
		var r Record
		var err error
		if i%5 == 0 {
			r, err = h.s.Journal(ctx, "t", Transition{Attempt: 1, To: "running"}, []byte{byte(i)}, payload("a/b"))
		} else {
			r, err = h.s.Append(ctx, KindMetrics, payload("a/b"))
		}
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.Seq)
	}
	crashed := filepath.Join(t.TempDir(), "crashed")
	copyOpenStore(t, h.dir, crashed)
	c, rec, err := Open(crashed, testOptions(t))
	if err != nil || rec != nil {
		t.Fatalf("Open(crash image) = %v, %v", rec, err)
	}
	defer c.Close()
	diff(t, "records in the crash image", want, pendingSeqs(t, c))
	if in := c.Info(); in.PreviousClean {
		t.Error("a crash image says its previous run closed cleanly")
	}
	st, _, err := c.TaskState("t")
	if err != nil || st.Transitions != 12 {
		t.Fatalf("task state in the crash image = %+v, %v", st, err)
	}
	if r := mustAppend(t, c, KindMetrics, payload("a/b")); r.Seq != 61 {
		t.Fatalf("next seq in the crash image = %d", r.Seq)
	}
}

// copyOpenStore copies the files of an open store but its lock.
func copyOpenStore(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
