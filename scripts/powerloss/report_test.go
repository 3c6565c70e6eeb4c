package powerloss

import "testing"

// syntheticRun feeds the ledger the boots of a run with a cut after each,
// where the store acknowledges 10 records a boot and lists everything it
// holds at the next; deleted are seqs taken out of the store behind its
// back before the last boot. It returns the report of the run.
func syntheticRun(cuts int, deleted ...uint64) *Report {
	var l Ledger
	var next uint64 = 1
	gone := map[uint64]bool{}
	for n := range cuts + 1 {
		if n == cuts {
			for _, s := range deleted {
				gone[s] = true
			}
		}
		lines := []Line{opened(next)}
		var from uint64
		for s := uint64(1); s < next; s++ {
			switch {
			case gone[s] && from != 0:
				lines = append(lines, have(from, s-1))
				from = 0
			case !gone[s] && from == 0:
				from = s
			}
		}
		if from != 0 {
			lines = append(lines, have(from, next-1))
		}
		if n < cuts {
			lines = append(lines, commits(next, next+9)...)
			next += 10
		} else {
			lines = append(lines, Line{Kind: KindCompactBegin}) // ends the listing
		}
		l.Apply(n, lines)
	}
	return &Report{Cuts: cuts, Boots: cuts + 1, Stats: l.Stats}
}

// TestReportControl: the same run passes as it is and fails once records
// are deleted behind the store's back — the proof can tell a store that
// keeps what it acknowledged from one that does not.
func TestReportControl(t *testing.T) {
	if r := syntheticRun(10); !r.OK() {
		t.Fatalf("a clean run fails:\n%s", r)
	}
	r := syntheticRun(10, 5, 6, 7, 42)
	if r.OK() || r.Lost != 4 {
		t.Fatalf("records deleted behind the store: OK %v, lost %d, want false and 4\n%s", r.OK(), r.Lost, r)
	}
}

// TestReportCannotPassEmpty: a run that made no cut, acknowledged nothing,
// never listed the store completely or read a malformed line fails, even
// though no invariant was seen broken.
func TestReportCannotPassEmpty(t *testing.T) {
	clean := syntheticRun(10)
	for name, r := range map[string]*Report{
		"nothing at all":          {},
		"cuts, nothing acked":     {Cuts: 10, Boots: 11},
		"acked, never listed":     {Cuts: 10, Boots: 11, Stats: Stats{Acked: 100}},
		"acked, too few listings": {Cuts: 10, Boots: 11, Stats: Stats{Acked: 100, Checked: 100, Verified: 1}},
		"acked, mostly unchecked": {Cuts: 10, Boots: 11, Stats: Stats{Acked: 100, Checked: 10, Verified: 9}},
		"too few acked":           {Cuts: 10, Boots: 11, Stats: Stats{Acked: 5, Checked: 5, Verified: 9}},
		"a malformed line":        {Cuts: clean.Cuts, Boots: clean.Boots, Stats: clean.Stats, Malformed: 1},
		"releases never checked":  {Cuts: clean.Cuts, Boots: clean.Boots, Stats: withReleases(clean.Stats)},
	} {
		if r.OK() {
			t.Errorf("%s: OK\n%s", name, r)
		}
	}
}

// withReleases is st with records released and deleted after the last
// complete listing: nothing checked that they stay deleted.
func withReleases(st Stats) Stats {
	st.Released, st.Deleted = 20, 20
	return st
}
