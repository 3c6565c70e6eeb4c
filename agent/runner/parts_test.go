package runner

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tether-edge/tether/agent/store"
	"github.com/tether-edge/tether/pkg/task"
)

func TestTailKeepsTheEnd(t *testing.T) {
	w := &tailWriter{max: 8}
	for _, s := range []string{"hello ", "wor", "ld, this is ", "the end"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := w.String(); got != " the end" {
		t.Fatalf("tail %q, want the last 8 bytes %q", got, " the end")
	}
	big := &tailWriter{max: 4}
	_, _ = big.Write([]byte(strings.Repeat("x", 100) + "abcd"))
	if got := big.String(); got != "abcd" {
		t.Fatalf("tail of one big write %q", got)
	}
	none := &tailWriter{max: 0}
	_, _ = none.Write([]byte("anything"))
	if got := none.String(); got != "" {
		t.Fatalf("a zero tail kept %q", got)
	}
}

func TestTailStringIsValidUTF8WithinItsBound(t *testing.T) {
	for _, c := range []struct {
		in  string
		max int
	}{
		{"aé€😀", 5}, {"\xff\xfe\xfd", 2}, {"😀😀", 5}, {"abc\xffdef", 4},
	} {
		got := tailString([]byte(c.in), c.max)
		if !utf8.ValidString(got) || len(got) > c.max {
			t.Errorf("tailString(%q, %d) = %q", c.in, c.max, got)
		}
	}
	if got := tailString([]byte("aé€😀"), 5); got != "😀" {
		t.Errorf("cut inside a rune: %q", got)
	}
}

func TestParseProgress(t *testing.T) {
	for line, want := range map[string][2]int64{
		"progress 3 10":   {3, 10},
		"progress 0 0":    {0, 0},
		"progress 7 0":    {7, 0}, // total unknown
		"progress 11 10":  {0, 0},
		"progress -1 10":  {0, 0},
		"progress 3":      {0, 0},
		"done 3 10":       {0, 0},
		"progress x 10":   {0, 0},
		"  progress 2 4 ": {2, 4},
	} {
		d, tot := parseProgress(line)
		if d != want[0] || tot != want[1] {
			t.Errorf("parseProgress(%q) = %d, %d; want %d, %d", line, d, tot, want[0], want[1])
		}
	}
}

func TestLimiterRefills(t *testing.T) {
	now := t0
	l := newLimiter(func() time.Time { return now })
	for i := range limitBurst {
		if !l.allow() {
			t.Fatalf("refused at %d, within the burst", i)
		}
	}
	if a, b := l.allow(), l.allow(); a || b {
		t.Fatal("allowed past the burst")
	}
	if n := l.suppressed(); n != 2 {
		t.Fatalf("suppressed %d, want 2", n)
	}
	now = now.Add(-time.Hour) // a clock stepped back refills nothing
	if l.allow() {
		t.Fatal("a clock stepped back refilled the bucket")
	}
	now = now.Add(time.Hour + limitEvery)
	if !l.allow() {
		t.Fatal("not refilled after limitEvery")
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	f := newFixture(t, nil)
	for name, edit := range map[string]func(*Options){
		"no node":          func(o *Options) { o.Node = "" },
		"no store":         func(o *Options) { o.Store = nil },
		"relative workdir": func(o *Options) { o.Workdir = "tasks" },
		"unclean command":  func(o *Options) { o.Allow = []string{"/bin/../bin/sh"} },
		"short key":        func(o *Options) { o.Keys[0] = o.Keys[0][:8] },
		"many slots":       func(o *Options) { o.Slots = maxSlots + 1 },
		"no region":        func(o *Options) { o.Region = "" },
	} {
		o := f.options()
		edit(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestSavedEndFitsTheStore: the end of an attempt is journaled even with
// the largest checkpoint kept and a result whose tails JSON escapes
// sixfold.
func TestSavedEndFitsTheStore(t *testing.T) {
	worst := strings.Repeat("\x01", task.MaxTail)
	sv := saved{Attempt: 1, Spec: sleepSpec(1, 1, 1, true), State: make([]byte, maxState),
		Result: &task.Result{Stdout: worst, Stderr: worst}, Error: strings.Repeat("\x02", task.MaxError)}
	b, err := sv.encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > store.MaxCheckpointLen {
		t.Fatalf("saved record of %d bytes, the store takes %d", len(b), store.MaxCheckpointLen)
	}
	back, err := decodeSaved(b)
	if err != nil || back.Result == nil || back.Result.Stdout != worst {
		t.Fatalf("decoded %v, %v", back.Result != nil, err)
	}
	sv.Result, sv.Error = nil, ""
	if b, err = sv.encode(); err != nil || len(b) > store.MaxCheckpointLen {
		t.Fatalf("a running attempt's largest record: %d bytes, %v", len(b), err)
	}
	if back, err := decodeSaved(b); err != nil || len(back.State) != maxState {
		t.Fatalf("a running attempt's checkpoint did not survive: %d bytes, %v", len(back.State), err)
	}
}
