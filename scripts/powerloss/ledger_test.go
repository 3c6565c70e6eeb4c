package powerloss

import (
	"strings"
	"testing"
)

func opened(next uint64) Line   { return Line{Kind: KindOpened, Next: next} }
func have(from, to uint64) Line { return Line{Kind: KindHave, From: from, To: to} }
func commit(seq uint64) Line    { return Line{Kind: KindCommit, From: seq, To: seq} }
func commits(from, to uint64) []Line {
	var ls []Line
	for s := from; s <= to; s++ {
		ls = append(ls, commit(s))
	}
	return ls
}

func TestLedgerCleanRun(t *testing.T) {
	var l Ledger
	l.Apply(0, append([]Line{opened(1)}, commits(1, 10)...))
	l.Apply(1, []Line{{Kind: KindInitStart}})   // cut during boot
	l.Apply(2, []Line{opened(13), have(1, 12)}) // cut while listing: nothing checked
	l.Apply(3, append([]Line{opened(13), have(1, 12)}, commits(13, 20)...))
	l.Apply(4, []Line{opened(21), have(1, 20), {Kind: KindCompactBegin}})
	if l.Lost != 0 || l.Duplicates != 0 || l.Reused != 0 || l.Quarantined != 0 || len(l.Problems) != 0 {
		t.Fatalf("clean run reported %+v", l.Stats)
	}
	if l.Acked != 18 || l.Checked != 18 || l.Verified != 3 {
		t.Errorf("acked %d checked %d verified %d, want 18 18 3", l.Acked, l.Checked, l.Verified)
	}
}

func TestLedgerFindsLoss(t *testing.T) {
	var l Ledger
	l.Apply(0, append([]Line{opened(1)}, commits(1, 10)...))
	c := l.Apply(1, append([]Line{opened(8), have(1, 7)}, commit(8)))
	if c.Lost != 3 || l.Lost != 3 {
		t.Errorf("lost %d (boot) %d (run), want 3", c.Lost, l.Lost)
	}
	if l.Reused != 2 { // next=8 while 10 was acknowledged; COMMIT 8 again
		t.Errorf("reused %d, want 2", l.Reused)
	}
	// The same loss is not counted again at the next boot.
	l.Apply(2, []Line{opened(9), have(1, 8), commit(9)})
	if l.Lost != 3 {
		t.Errorf("lost %d after another boot, want 3", l.Lost)
	}
}

func TestLedgerBroken(t *testing.T) {
	var l Ledger
	l.Apply(0, []Line{opened(1), {Kind: KindBroken, Text: "task-1: history of 2"}, commit(1)})
	if l.Broken != 1 || len(l.Problems) != 1 {
		t.Errorf("broken %d, problems %q", l.Broken, l.Problems)
	}
}

func TestLedgerDuplicatesAndQuarantine(t *testing.T) {
	var l Ledger
	l.Apply(0, append([]Line{opened(1)}, commits(1, 5)...))
	l.Apply(1, []Line{opened(6), have(1, 5), have(4, 5), commit(6)})
	if l.Duplicates != 2 {
		t.Errorf("duplicates %d, want 2", l.Duplicates)
	}
	l.Apply(2, []Line{{Kind: KindOpened, Recovered: true, Next: 1}, commit(1)})
	if l.Quarantined != 1 || l.Lost != 6 || l.LostInQuarantine != 6 || l.Reused != 0 {
		t.Errorf("quarantine: %+v", l.Stats)
	}
}

// A record listed but never acknowledged may vanish after a cut; its seq
// must still not be handed out again.
func TestLedgerListedSeqNotReused(t *testing.T) {
	var l Ledger
	l.Apply(0, append([]Line{opened(1)}, commits(1, 3)...))
	l.Apply(1, []Line{opened(5), have(1, 4), commit(5)})
	l.Apply(2, []Line{opened(4), have(1, 3), commit(4)})
	if l.Lost != 1 { // 5 was acknowledged
		t.Errorf("lost %d, want 1", l.Lost)
	}
	if l.Reused != 2 {
		t.Errorf("reused %d, want 2 (next=4 after 4 was listed, COMMIT 4)", l.Reused)
	}
}

func puback(seq uint64) Line  { return Line{Kind: KindPuback, From: seq, To: seq} }
func hostAck(seq uint64) Line { return Line{Kind: KindHostAck, From: seq, To: seq} }
func deleted(seq uint64) Line { return Line{Kind: KindDeleted, From: seq, To: seq} }

// TestLedgerReleasesAndResurrections: a released record may vanish, and
// may still be listed until its deletion is durable; a durably deleted
// record listed again is counted once, and a released one is not lost.
func TestLedgerReleasesAndResurrections(t *testing.T) {
	var l Ledger
	l.Apply(0, append(append([]Line{opened(1)}, commits(1, 10)...), hostAck(1), hostAck(2), hostAck(3), puback(1), puback(2), puback(3), commit(11), deleted(1), deleted(2)))
	// 3 released, its deletion not yet durable: listed or not, both fine.
	l.Apply(1, []Line{opened(12), have(3, 11), commit(12)})
	if l.Lost != 0 || l.Resurrected != 0 || len(l.Problems) != 0 {
		t.Fatalf("a clean run with releases: %+v", l.Stats)
	}
	l.Apply(2, []Line{opened(13), have(4, 12), commit(13)})
	if l.Lost != 0 || l.Released != 3 || l.Deleted != 2 || l.DeletedChecked != 2 {
		t.Fatalf("released records counted as lost, or counts wrong: %+v", l.Stats)
	}
	// 2 comes back: deleted durably, listed again.
	l.Apply(3, []Line{opened(14), have(2, 2), have(4, 13), {Kind: KindCompactBegin}})
	l.Apply(4, []Line{opened(14), have(2, 2), have(4, 13), {Kind: KindCompactBegin}})
	if l.Resurrected != 1 || len(l.Problems) != 1 {
		t.Fatalf("resurrected %d (want 1, counted once), problems %q", l.Resurrected, l.Problems)
	}
	r := &Report{Cuts: 4, Boots: 5, Stats: l.Stats}
	if r.OK() {
		t.Errorf("a run with a deleted record back passes:\n%s", r)
	}
}

// TestLedgerStoreSize: a store bigger than 4 × live + SizeAllowance fails
// the run; one within passes, and every STORE line is kept for the report.
func TestLedgerStoreSize(t *testing.T) {
	var l Ledger
	l.Apply(0, []Line{opened(1), {Kind: KindStore, Disk: 4*(1<<20) + SizeAllowance, Live: 1 << 20, OpenMS: 30}})
	if l.OverSize != 0 {
		t.Fatalf("a store at its bound counted: %+v", l.Stats)
	}
	l.Apply(1, []Line{opened(1), {Kind: KindStore, Disk: 4*(1<<20) + SizeAllowance + 1, Live: 1 << 20, OpenMS: 40}})
	if l.OverSize != 1 || len(l.Sizes) != 2 || l.Sizes[1] != (SizePoint{Boot: 1, Disk: 4*(1<<20) + SizeAllowance + 1, Live: 1 << 20, OpenMS: 40}) {
		t.Fatalf("a store over its bound: %+v", l.Stats)
	}
	if r := (&Report{Stats: l.Stats}); r.OK() || !strings.Contains(r.String(), "over 4 × live + 24 MiB 1 times") {
		t.Errorf("report:\n%s", r)
	}
}
