package store

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-edge/tether/pkg/testenv"
)

// fixedClock is a wall clock tests move by hand.
type fixedClock struct{ t time.Time }

func (c *fixedClock) now() time.Time { return c.t }

var t0 = time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)

// testOptions are quick: a short commit window.
func testOptions(t testing.TB) Options {
	return Options{Logger: testenv.Logger(t, slog.LevelWarn), CommitInterval: 2 * time.Millisecond, AckInterval: 50 * time.Millisecond}
}

// harness opens a store in a directory and can reopen it.
type harness struct {
	t    testing.TB
	dir  string
	opts Options
	s    *Store
}

func newHarness(t testing.TB, mods ...func(*Options)) *harness {
	h := &harness{t: t, dir: filepath.Join(t.TempDir(), "store"), opts: testOptions(t)}
	for _, m := range mods {
		m(&h.opts)
	}
	h.open()
	t.Cleanup(func() {
		if h.s != nil {
			if err := h.s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return h
}

func (h *harness) open() {
	h.t.Helper()
	s, rec, err := Open(h.dir, h.opts)
	if err != nil {
		h.t.Fatalf("Open: %v", err)
	}
	if rec != nil {
		h.t.Fatalf("store recovered on open: %+v", rec)
	}
	h.s = s
}

// reopen closes the store and opens it again.
func (h *harness) reopen() {
	h.t.Helper()
	if err := h.s.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	h.s = nil
	h.open()
}

// payload builds a record whose payload names its seq.
func payload(topic string) func(uint64) (string, []byte, error) {
	return func(seq uint64) (string, []byte, error) {
		return topic, fmt.Appendf(nil, `{"seq":%d}`, seq), nil
	}
}

func sized(topic string, n int) func(uint64) (string, []byte, error) {
	return func(seq uint64) (string, []byte, error) {
		p := make([]byte, n)
		copy(p, fmt.Appendf(nil, `{"seq":%d}`, seq))
		return topic, p, nil
	}
}

func mustAppend(t testing.TB, s *Store, kind Kind, build func(uint64) (string, []byte, error)) Record {
	t.Helper()
	r, err := s.Append(context.Background(), kind, build)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return r
}

func pendingSeqs(t testing.TB, s *Store) []uint64 {
	t.Helper()
	var seqs []uint64
	var after uint64
	for {
		recs, err := s.Pending(after, 100)
		if err != nil {
			t.Fatalf("Pending: %v", err)
		}
		if len(recs) == 0 {
			return seqs
		}
		for _, r := range recs {
			seqs = append(seqs, r.Seq)
		}
		after = recs[len(recs)-1].Seq
	}
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func diff(t testing.TB, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("%s (-want +got):\n%s", what, d)
	}
}
