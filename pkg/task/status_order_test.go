package task

import (
	"testing"
	"time"
)

func TestStatusOlderThan(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	st := func(epoch uint64, at time.Duration) Status {
		return Status{Task: "t", Epoch: epoch, Updated: t0.Add(at)}
	}
	cases := []struct {
		a, b  Status
		older bool
	}{
		{st(0, 0), st(0, time.Second), true},
		{st(0, time.Second), st(0, 0), false},
		{st(0, 0), st(0, 0), false},         // the same status again replaces
		{st(3, time.Hour), st(4, 0), true},  // a deposed scheduler's, however late
		{st(4, 0), st(3, time.Hour), false}, // the successor's, however early
		{st(0, time.Hour), st(1, 0), true},  // a one-box scheduler's before ha
		{st(5, time.Second), st(5, 0), false},
	}
	for i, c := range cases {
		if got := c.a.OlderThan(&c.b); got != c.older {
			t.Errorf("%d: (%d, %v).OlderThan(%d, %v) = %v, want %v", i, c.a.Epoch, c.a.Updated, c.b.Epoch, c.b.Updated, got, c.older)
		}
	}
}
