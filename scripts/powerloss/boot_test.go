package powerloss

import (
	"testing"
	"time"
)

func feed(b *boot, w *windows, at time.Duration, text string) {
	b.take(ConsoleLine{At: at, Text: text + "\r\n"}, w, nil)
}

// TestBootDeadlines walks one boot through its phases and checks when the
// harness would cut, and where it says the cut landed.
func TestBootDeadlines(t *testing.T) {
	cfg := Config{}
	cfg.ensureDefaults()
	w := initialWindows()
	s := time.Second
	ms := time.Millisecond

	b := &boot{cut: &Cut{Phase: PhaseOpen, U: 0.5}}
	if at, why := b.next(&cfg, w); at != cfg.BootTimeout || why == "" {
		t.Errorf("before START: next=%v %q, want the boot timeout", at, why)
	}
	if b.observedPhase() != PhaseBoot {
		t.Errorf("landed %s, want boot", b.observedPhase())
	}
	feed(b, w, 2990*ms, "TETHER-PL-INIT MOUNTING")
	if w.boot.d != 2990*ms || b.observedPhase() != PhaseMount {
		t.Errorf("boot window %v after the first MOUNTING at 2.99s; landed %s", w.boot.d, b.observedPhase())
	}
	feed(b, w, 3*s, "TETHER-PL-INIT START")
	if w.mount.d != 10*ms {
		t.Errorf("mount window %v, want 10ms", w.mount.d)
	}
	if at, why := b.next(&cfg, w); at != 3*s+w.open.d/2 || why != "" {
		t.Errorf("open cut at %v %q, want %v", at, why, 3*s+w.open.d/2)
	}
	feed(b, w, 3200*ms, "TETHER-PL OPENED recovered=0 next=1")
	if b.observedPhase() != PhaseOpen {
		t.Errorf("landed %s, want open", b.observedPhase())
	}
	feed(b, w, 3300*ms, "TETHER-PL COMMIT 1")
	if b.listedAt != 3300*ms || w.open.d != 300*ms || b.observedPhase() != PhaseWrite {
		t.Errorf("listed at %v, open window %v, landed %s", b.listedAt, w.open.d, b.observedPhase())
	}

	b.cut = &Cut{Phase: PhaseCompact, U: 0.5}
	if at, why := b.next(&cfg, w); at != 3300*ms+cfg.CompactWait || why != "" {
		t.Errorf("compaction cut before a marker at %v %q", at, why)
	}
	feed(b, w, 4*s, "TETHER-PL COMPACT BEGIN")
	if at, _ := b.next(&cfg, w); at != 4*s+w.compact.d/2 {
		t.Errorf("compaction cut at %v, want %v", at, 4*s+w.compact.d/2)
	}
	if b.observedPhase() != PhaseCompact {
		t.Errorf("landed %s, want compaction", b.observedPhase())
	}
	feed(b, w, 4100*ms, "TETHER-PL COMPACT END")
	if w.compact.d != 100*ms || b.observedPhase() != PhaseWrite {
		t.Errorf("compact window %v, landed %s", w.compact.d, b.observedPhase())
	}

	b = &boot{cut: &Cut{Phase: PhaseMount, U: 0.5}}
	if at, why := b.next(&cfg, w); at != cfg.BootTimeout || why == "" {
		t.Errorf("mount cut before MOUNTING: next=%v %q, want the boot timeout", at, why)
	}
	feed(b, w, 2*s, "TETHER-PL-INIT MOUNTING")
	if at, _ := b.next(&cfg, w); at != 2*s+5*ms {
		t.Errorf("mount cut at %v, want 2.005s", at)
	}
	feed(b, w, 2*s, "TETHER-PL-INIT START")
	feed(b, w, 5*s, "TETHER-PL-INIT EXIT 2")
	if b.fail == "" || !b.failOpen {
		t.Errorf("workload exit: fail=%q failOpen=%v", b.fail, b.failOpen)
	}
}

func TestWindowObserve(t *testing.T) {
	w := window{d: time.Second}
	w.observe(100 * time.Millisecond)
	w.observe(500 * time.Millisecond)
	if w.d != 200*time.Millisecond {
		t.Errorf("window %v, want 200ms", w.d)
	}
}
