package powerloss

import (
	"slices"
	"testing"
	"time"
)

// TestLedgerRefusesReleasesTheHostDidNotSend: a PUBACK must follow the
// harness's acknowledgement of its seq in the same boot. A workload that
// releases records on its own (the store workload before the harness
// acknowledged over the console did) fails the run, and so does one that
// releases in a later boot what the harness acknowledged in a boot that
// was cut: that acknowledgement died with the guest's memory.
func TestLedgerRefusesReleasesTheHostDidNotSend(t *testing.T) {
	boot0 := append([]Line{opened(1)}, commits(1, 10)...)
	boot0 = append(boot0, hostAck(1), puback(1), hostAck(2), puback(2), commit(11), deleted(1), deleted(2))
	for _, tc := range []struct {
		name    string
		boots   [][]Line
		unacked uint64
	}{
		{"released as acknowledged", [][]Line{boot0, {opened(12), have(3, 11), commit(12)}}, 0},
		{"released on its own", [][]Line{slices.Concat(boot0, []Line{puback(3)}), {opened(12), have(4, 11), commit(12)}}, 1},
		{"PUBACK before the acknowledgement", [][]Line{slices.Concat(boot0, []Line{puback(3), hostAck(3)}), {opened(12), have(4, 11), commit(12)}}, 1},
		{"acknowledged in the boot before", [][]Line{slices.Concat(boot0, []Line{hostAck(3)}), {opened(12), have(3, 11), puback(3), commit(12)}}, 1},
	} {
		var l Ledger
		for n, b := range tc.boots {
			l.Apply(n, b)
		}
		l.Apply(len(tc.boots), []Line{opened(13), have(3, 12), {Kind: KindCompactBegin}})
		r := &Report{Cuts: len(tc.boots), Boots: len(tc.boots) + 1, Stats: l.Stats}
		if l.Unacked != tc.unacked || r.OK() != (tc.unacked == 0) {
			t.Errorf("%s: %d releases without an acknowledgement (want %d), OK %v; problems %q", tc.name, l.Unacked, tc.unacked, r.OK(), l.Problems)
		}
	}
}

// TestGuestCannotAcknowledge: a console line in the harness's own form,
// printed by the guest, is a malformed line (the run fails), not an
// acknowledgement the ledger would take.
func TestGuestCannotAcknowledge(t *testing.T) {
	b := &boot{acks: newAcker(1, 0)}
	w := initialWindows()
	for _, s := range []string{"TETHER-PL OPENED recovered=0 next=3\n", "TETHER-PL HAVE 1-2\n", "TETHER-PL COMMIT 3\n",
		"TETHER-PL-HOST ACK 3\n", "TETHER-PL PUBACK 3\n"} {
		b.take(ConsoleLine{At: time.Second, Text: s}, w, nil)
	}
	if b.malformed != 1 {
		t.Fatalf("%d malformed lines, want the guest's ACK line", b.malformed)
	}
	var l Ledger
	l.Apply(0, b.lines)
	if l.HostAcks != 0 || l.Unacked != 1 {
		t.Errorf("host acks %d, unacked %d: want 0 and 1", l.HostAcks, l.Unacked)
	}
}

// TestAckerShares: the seeded stream acknowledges some records at once,
// some late and some not in the boot, each seq drawn once, in due order.
func TestAckerShares(t *testing.T) {
	a := newAcker(42, 3)
	const n = 4000
	for seq := uint64(1); seq <= n; seq++ {
		a.plan(seq, time.Second)
		a.plan(seq, 2*time.Second) // drawn once
	}
	now, late := 0, 0
	prev := time.Duration(0)
	for _, d := range a.due {
		if d.at < prev {
			t.Fatalf("due out of order: %v after %v", d.at, prev)
		}
		prev = d.at
		if d.at == time.Second {
			now++
		} else {
			late++
		}
	}
	if len(a.due)+a.never != n {
		t.Fatalf("%d due + %d never, want %d", len(a.due), a.never, n)
	}
	for name, got := range map[string]struct {
		n    int
		want float64
	}{"now": {now, ackNow}, "never": {a.never, ackNever}, "late": {late, 1 - ackNow - ackNever}} {
		if f := float64(got.n) / n; f < got.want-0.04 || f > got.want+0.04 {
			t.Errorf("%s: %.3f of the records, want ~%.2f", name, f, got.want)
		}
	}
	if got := a.pop(time.Second); len(got) != now {
		t.Errorf("popped %d at 1 s, want the %d due at once", len(got), now)
	}
}
