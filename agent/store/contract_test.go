package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/kv"
)

// The contract every configuration of the store keeps, run three ways: the
// device profile, the server profile, and the device profile reopened
// before every read (what Append returned must survive Close and Open).
func TestContract(t *testing.T) {
	for _, v := range []struct {
		name   string
		mods   []func(*Options)
		reopen bool
	}{
		{name: "device"},
		{name: "server", mods: []func(*Options){func(o *Options) { o.Profile = kv.Server() }}},
		{name: "reopened", reopen: true},
	} {
		t.Run(v.name, func(t *testing.T) {
			if v.name == "server" && strconv.IntSize == 32 {
				t.Skip("the server profile is for the scheduler's 64-bit machines")
			}
			for _, c := range contract {
				t.Run(c.name, func(t *testing.T) {
					h := newHarness(t, v.mods...)
					c.run(t, &contractHarness{harness: h, reopenReads: v.reopen})
				})
			}
		})
	}
}

type contractHarness struct {
	*harness
	reopenReads bool
}

// read returns the store to read from: reopened first in that variant.
func (h *contractHarness) read() *Store {
	if h.reopenReads {
		h.reopen()
	}
	return h.s
}

var contract = []struct {
	name string
	run  func(*testing.T, *contractHarness)
}{
	{"records come back in order, as appended", func(t *testing.T, h *contractHarness) {
		clock := &fixedClock{t: t0}
		h.s.opts.Now = clock.now
		var want []Record
		for i, kind := range []Kind{KindMetrics, KindTaskEvent, KindStatus, KindMetrics} {
			clock.t = t0.Add(seconds(i))
			want = append(want, mustAppend(t, h.s, kind, payload("tether/v1/r/nodes/n/x")))
		}
		for i, r := range want {
			if r.Seq != uint64(i+1) {
				t.Fatalf("record %d has seq %d", i, r.Seq)
			}
		}
		diff(t, "status retained, all QoS 1", []bool{false, false, true, false},
			[]bool{want[0].Retained, want[1].Retained, want[2].Retained, want[3].Retained})
		got, err := h.read().Pending(0, 10)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "Pending", want, got)
	}},
	{"build sees its seq; a failing build spends none", func(t *testing.T, h *contractHarness) {
		mustAppend(t, h.s, KindMetrics, payload("a/b"))
		boom := errors.New("boom")
		_, err := h.s.Append(context.Background(), KindMetrics, func(uint64) (string, []byte, error) { return "", nil, boom })
		if !errors.Is(err, boom) {
			t.Fatalf("Append with a failing build = %v", err)
		}
		r := mustAppend(t, h.s, KindMetrics, payload("a/b"))
		if r.Seq != 2 || string(r.Payload) != `{"seq":2}` {
			t.Fatalf("after a failed build: %+v", r)
		}
		diff(t, "pending", []uint64{1, 2}, pendingSeqs(t, h.read()))
	}},
	{"Pending starts after a seq and stops at a limit", func(t *testing.T, h *contractHarness) {
		for range 5 {
			mustAppend(t, h.s, KindMetrics, payload("a/b"))
		}
		s := h.read()
		got, err := s.Pending(2, 2)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "Pending(2, 2)", []uint64{3, 4}, seqsOf(got))
		if got, _ := s.Pending(5, 10); len(got) != 0 {
			t.Fatalf("Pending past the end = %v", got)
		}
		if got, _ := s.Pending(0, 0); len(got) != 0 {
			t.Fatalf("Pending with limit 0 = %v", got)
		}
	}},
	{"an acknowledged record leaves Pending and the store", func(t *testing.T, h *contractHarness) {
		for range 4 {
			mustAppend(t, h.s, KindMetrics, payload("a/b"))
		}
		for _, seq := range []uint64{1, 3, 3, 99} {
			if err := h.s.Ack(seq); err != nil {
				t.Fatal(err)
			}
		}
		diff(t, "pending after acks", []uint64{2, 4}, pendingSeqs(t, h.s))
		if st := h.s.OutboxStats(); st.Count != 2 {
			t.Fatalf("OutboxStats.Count = %d after acks", st.Count)
		}
		mustAppend(t, h.s, KindMetrics, payload("a/b")) // its commit deletes them
		h.reopen()
		diff(t, "pending after reopen", []uint64{2, 4, 5}, pendingSeqs(t, h.read()))
	}},
	{"seqs keep growing across reopens, even with the outbox empty", func(t *testing.T, h *contractHarness) {
		for range 3 {
			mustAppend(t, h.s, KindMetrics, payload("a/b"))
		}
		for seq := range uint64(3) {
			_ = h.s.Ack(seq + 1)
		}
		h.reopen()
		h.reopen()
		if r := mustAppend(t, h.s, KindMetrics, payload("a/b")); r.Seq != 4 {
			t.Fatalf("seq after reopening an emptied outbox = %d, want 4", r.Seq)
		}
		if got := h.read().LastSeq(); got != 4 {
			t.Fatalf("LastSeq = %d", got)
		}
	}},
	{"concurrent appends get unique seqs, all kept in order", func(t *testing.T, h *contractHarness) {
		const writers, each = 8, 40
		var wg sync.WaitGroup
		var mu sync.Mutex
		var seqs []uint64
		for w := range writers {
			wg.Go(func() {
				for range each {
					r, err := h.s.Append(context.Background(), KindMetrics, payload(fmt.Sprintf("w/%d", w)))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					seqs = append(seqs, r.Seq)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(seqs)
		diff(t, "seqs handed out", seqRange(1, writers*each), seqs)
		diff(t, "pending", seqRange(1, writers*each), pendingSeqs(t, h.read()))
		if c := h.s.Commits(); c >= writers*each {
			t.Errorf("%d commits for %d appends: no group commit", c, writers*each)
		}
	}},
	{"the journal keeps state, history, checkpoint and the event", func(t *testing.T, h *contractHarness) {
		steps := []struct {
			tr Transition
			cp []byte
		}{
			{Transition{Attempt: 1, To: "assigned", At: t0}, nil},
			{Transition{Attempt: 1, From: "assigned", To: "running", At: t0.Add(1)}, []byte("step 0")},
			{Transition{Attempt: 1, From: "running", To: "running", At: t0.Add(2), Detail: "progress"}, []byte("step 1")},
			{Transition{Attempt: 1, From: "running", To: "done", At: t0.Add(3), Detail: "exit 0"}, nil},
		}
		var last Record
		for _, st := range steps {
			var err error
			last, err = h.s.Journal(context.Background(), "task-1", st.tr, st.cp, payload("tether/v1/r/tasks/task-1/status"))
			if err != nil {
				t.Fatal(err)
			}
		}
		mustAppend(t, h.s, KindMetrics, payload("a/b"))
		s := h.read()
		st, ok, err := s.TaskState("task-1")
		if err != nil || !ok {
			t.Fatalf("TaskState = %v, %v", ok, err)
		}
		diff(t, "state", TaskState{Task: "task-1", Attempt: 1, State: "done", Since: t0.Add(3),
			Detail: "exit 0", Transitions: 4, Seq: last.Seq}, st)
		cp, ok, err := s.Checkpoint("task-1")
		if err != nil || !ok || string(cp) != "step 1" {
			t.Fatalf("Checkpoint = %q, %v, %v", cp, ok, err)
		}
		hist, err := s.History("task-1")
		if err != nil {
			t.Fatal(err)
		}
		var want []Transition
		for _, st := range steps {
			tr := st.tr
			tr.Task = "task-1"
			want = append(want, tr)
		}
		diff(t, "history", want, hist)
		recs, err := s.Pending(0, 10)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "kinds", []Kind{KindTaskEvent, KindTaskEvent, KindTaskEvent, KindTaskEvent, KindMetrics}, kindsOf(recs))
		tasks, err := s.Tasks()
		if err != nil || len(tasks) != 1 || tasks[0] != st {
			t.Fatalf("Tasks = %v, %v", tasks, err)
		}
		if _, ok, _ := s.TaskState("task-2"); ok {
			t.Fatal("state of a task never journaled")
		}
		if err := s.ForgetTask("task-1"); err != nil {
			t.Fatal(err)
		}
		if tasks, _ := h.read().Tasks(); len(tasks) != 0 {
			t.Fatalf("tasks after ForgetTask: %v", tasks)
		}
		if _, ok, _ := h.s.Checkpoint("task-1"); ok {
			t.Fatal("checkpoint after ForgetTask")
		}
	}},
	{"a journal entry whose build fails leaves nothing", func(t *testing.T, h *contractHarness) {
		boom := errors.New("boom")
		_, err := h.s.Journal(context.Background(), "t", Transition{Attempt: 1, To: "running"}, []byte("cp"),
			func(uint64) (string, []byte, error) { return "", nil, boom })
		if !errors.Is(err, boom) {
			t.Fatalf("Journal = %v", err)
		}
		s := h.read()
		if _, ok, _ := s.TaskState("t"); ok {
			t.Fatal("state written")
		}
		if _, ok, _ := s.Checkpoint("t"); ok {
			t.Fatal("checkpoint written")
		}
		if r := mustAppend(t, s, KindMetrics, payload("a/b")); r.Seq != 1 {
			t.Fatalf("seq spent: next is %d", r.Seq)
		}
	}},
	{"info: a stable id, opens counted, clean closes seen", func(t *testing.T, h *contractHarness) {
		id := h.s.ID()
		if checkID(id) != nil {
			t.Fatalf("ID %q", id)
		}
		if in := h.s.Info(); in.Opens != 1 || in.PreviousClean {
			t.Fatalf("first Info = %+v", in)
		}
		h.reopen()
		if in := h.s.Info(); in.ID != id || in.Opens != 2 || !in.PreviousClean {
			t.Fatalf("Info after reopen = %+v (id was %s)", in, id)
		}
	}},
	{"invalid writes are refused and spend no seq", func(t *testing.T, h *contractHarness) {
		ctx := context.Background()
		for _, tc := range []struct {
			name string
			err  error
		}{
			{"kind", func() error { _, err := h.s.Append(ctx, 0, payload("a")); return err }()},
			{"empty topic", func() error { _, err := h.s.Append(ctx, KindMetrics, payload("")); return err }()},
			{"wildcard", func() error { _, err := h.s.Append(ctx, KindMetrics, payload("a/#")); return err }()},
			{"payload", func() error { _, err := h.s.Append(ctx, KindMetrics, sized("a", MaxPayloadLen+1)); return err }()},
			{"nil build", func() error { _, err := h.s.Append(ctx, KindMetrics, nil); return err }()},
			{"task id", func() error {
				_, err := h.s.Journal(ctx, "a/b", Transition{To: "x"}, nil, payload("a"))
				return err
			}()},
			{"other task", func() error {
				_, err := h.s.Journal(ctx, "a", Transition{Task: "b", To: "x"}, nil, payload("a"))
				return err
			}()},
			{"no state", func() error { _, err := h.s.Journal(ctx, "a", Transition{}, nil, payload("a")); return err }()},
			{"checkpoint", func() error {
				_, err := h.s.Journal(ctx, "a", Transition{To: "x"}, make([]byte, MaxCheckpointLen+1), payload("a"))
				return err
			}()},
		} {
			if tc.err == nil {
				t.Errorf("%s: accepted", tc.name)
			}
		}
		if r := mustAppend(t, h.s, KindMetrics, payload("a")); r.Seq != 1 {
			t.Fatalf("seq after refused writes = %d", r.Seq)
		}
	}},
	{"a closed store refuses everything", func(t *testing.T, h *contractHarness) {
		mustAppend(t, h.s, KindMetrics, payload("a"))
		if err := h.s.Close(); err != nil {
			t.Fatal(err)
		}
		s := h.s
		h.s = nil
		ctx := context.Background()
		if _, err := s.Append(ctx, KindMetrics, payload("a")); !errors.Is(err, ErrClosed) {
			t.Errorf("Append = %v", err)
		}
		if _, err := s.Journal(ctx, "t", Transition{To: "x"}, nil, payload("a")); !errors.Is(err, ErrClosed) {
			t.Errorf("Journal = %v", err)
		}
		if err := s.Ack(1); !errors.Is(err, ErrClosed) {
			t.Errorf("Ack = %v", err)
		}
		if err := s.Run(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("Run = %v", err)
		}
		if err := s.ForgetTask("t"); !errors.Is(err, ErrClosed) {
			t.Errorf("ForgetTask = %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
		h.open()
	}},
	{"stats count what waits", func(t *testing.T, h *contractHarness) {
		clock := &fixedClock{t: t0}
		h.s.opts.Now = clock.now
		if st := h.s.OutboxStats(); st != (OutboxStats{}) {
			t.Fatalf("empty store stats = %+v", st)
		}
		a := mustAppend(t, h.s, KindMetrics, sized("a/b", 100))
		clock.t = t0.Add(seconds(1))
		mustAppend(t, h.s, KindTaskEvent, sized("a/b", 200))
		st := h.read().OutboxStats()
		if st.Count != 2 || st.Bytes < 300 || st.Bytes > 400 || !st.Oldest.Equal(a.Created) {
			t.Fatalf("stats = %+v", st)
		}
	}},
}

func seqsOf(recs []Record) []uint64 {
	var s []uint64
	for _, r := range recs {
		s = append(s, r.Seq)
	}
	return s
}

func kindsOf(recs []Record) []Kind {
	var k []Kind
	for _, r := range recs {
		k = append(k, r.Kind)
	}
	return k
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

func TestKindString(t *testing.T) {
	got := []string{KindMetrics.String(), KindTaskEvent.String(), KindStatus.String(), Kind(9).String()}
	if strings.Join(got, ",") != "metrics,task-event,status,kind(9)" {
		t.Fatal(got)
	}
}
