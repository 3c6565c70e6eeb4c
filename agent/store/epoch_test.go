package store

import (
	"errors"
	"testing"
)

// The epoch only rises, and survives a reopen.
func TestEpochRisesAndSurvivesReopen(t *testing.T) {
	h := newHarness(t)
	if e := h.s.Epoch(); e != 0 {
		t.Fatalf("a new store's epoch is %d, want 0", e)
	}
	for _, c := range []struct{ raise, want uint64 }{{5, 5}, {3, 5}, {0, 5}, {5, 5}, {6, 6}} {
		if err := h.s.RaiseEpoch(c.raise); err != nil {
			t.Fatalf("RaiseEpoch(%d): %v", c.raise, err)
		}
		if e := h.s.Epoch(); e != c.want {
			t.Fatalf("after RaiseEpoch(%d) the epoch is %d, want %d", c.raise, e, c.want)
		}
	}
	h.reopen()
	if e := h.s.Epoch(); e != 6 {
		t.Fatalf("after a reopen the epoch is %d, want 6", e)
	}
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.s.RaiseEpoch(10); !errors.Is(err, ErrClosed) || h.s.Epoch() != 6 {
		t.Fatalf("RaiseEpoch after Close: %v, want ErrClosed", err)
	}
	h.s = nil
}

// A raise that does not commit leaves the epoch where it was, in memory
// and on disk.
func TestEpochRaiseThatFailsKeepsTheOld(t *testing.T) {
	fail := false
	h := newHarness(t, func(o *Options) {
		o.failpoint = func(point string) error {
			if fail && point == "epoch" {
				return errFailpoint
			}
			return nil
		}
	})
	if err := h.s.RaiseEpoch(4); err != nil {
		t.Fatal(err)
	}
	fail = true
	if err := h.s.RaiseEpoch(8); !errors.Is(err, errFailpoint) {
		t.Fatalf("RaiseEpoch(8) with the failpoint: %v", err)
	}
	if e := h.s.Epoch(); e != 4 {
		t.Fatalf("epoch %d after a failed raise, want 4", e)
	}
	fail = false
	h.reopen()
	if e := h.s.Epoch(); e != 4 {
		t.Fatalf("epoch %d after a failed raise and a reopen, want 4", e)
	}
}
