package powerloss

import "fmt"

// Ledger is the harness's model of what the store must hold across boots:
// every seq acknowledged (printed as COMMIT) before a cut and not released
// since (PUBACK), and none whose deletion was durable (DELETED). A PUBACK
// must follow the harness's acknowledgement of its seq in the same boot
// (KindHostAck): a workload that releases a record on its own is refused
// (Stats.Unacked). It does no I/O; Apply is fed the protocol lines of one
// boot, in order, the harness's acknowledgements among them.
type Ledger struct {
	acked   SeqSet // acknowledged, not released, and not yet found lost
	seen    SeqSet // acknowledged or listed by the store at some boot
	deleted SeqSet // durably deleted and not yet found back
	Stats
}

// Stats are the ledger's counts over a run.
type Stats struct {
	Acked            uint64      // COMMIT lines seen
	Checked          uint64      // of those, acknowledged before the last complete listing (so checked)
	Lost             uint64      // acknowledged seqs missing from a later complete listing
	LostInQuarantine uint64      // of those, missing from the listing of a store that had just quarantined itself
	HostAcks         uint64      // acknowledgements the harness sent (KindHostAck)
	Released         uint64      // PUBACK lines: records the workload let go of (no longer owed)
	Unacked          uint64      // of those, PUBACKs of a seq the harness had not acknowledged in that boot: a failure
	Deleted          uint64      // DELETED lines: deletions made durable
	DeletedChecked   uint64      // of those, durable before the last complete listing (so checked)
	Resurrected      uint64      // durably deleted seqs listed again by a later listing
	Sizes            []SizePoint // one per STORE line, in order
	OverSize         int         // STORE lines with disk above 4 × live + SizeAllowance
	Duplicates       uint64      // seqs listed twice in one listing
	Reused           int         // OPENED next at or below a seq already acknowledged or listed, or a COMMIT of such a seq
	Quarantined      int         // OPENED recovered=1: the store moved itself aside
	Broken           int         // BROKEN lines: the workload's own invariants
	Verified         int         // boots whose listing was complete and checked
	Problems         []string
}

// SizePoint is the store's size and open time as one boot found them.
type SizePoint struct {
	Boot       int
	Disk, Live int64 // bytes allocated under the store's directory; pending records and checkpoints
	OpenMS     int64
}

// SizeAllowance is what the store may hold beyond 4 × its live data:
// Badger's own files (WALs mapped at 2 MiB, a value-log file, tables, the
// MANIFEST), as in agent/store's TestSizeFollowsLiveData.
const SizeAllowance = 24 << 20

// BootCheck is what Apply found in one boot.
type BootCheck struct {
	Opened    bool   // OPENED appeared
	Listed    bool   // the HAVE listing ended (another protocol line followed it)
	Recovered bool   // OPENED recovered=1
	Have      uint64 // seqs listed
	Lost      uint64 // acknowledged seqs missing from the listing
	Commits   int
}

const maxProblems = 50

func (l *Ledger) problem(format string, args ...any) {
	if len(l.Problems) < maxProblems {
		l.Problems = append(l.Problems, fmt.Sprintf(format, args...))
	}
}

// Apply checks the protocol lines of boot n against everything acknowledged
// before, then records the boot's own acknowledgements.
func (l *Ledger) Apply(n int, lines []Line) BootCheck {
	var (
		c       BootCheck
		have    SeqSet
		listing bool   // between OPENED and the first other protocol line
		next    uint64 // OPENED next=

		reusedN  int    // COMMITs of a seq already acknowledged or listed
		reusedAt uint64 // the first of them

		hostAcked SeqSet // acknowledged by the harness in this boot: what may be released
	)
	endListing := func() {
		listing, c.Listed = false, true
		l.Verified++
		l.Checked = l.Acked
		l.DeletedChecked = l.Deleted
		if back := l.deleted.Minus(l.deleted.Minus(&have)); back.Len() > 0 {
			l.Resurrected += back.Len()
			l.problem("boot %d: %d records deleted durably are listed again: %s", n, back.Len(), back.Format(8))
			l.deleted.Remove(back) // count each once
		}
		if m, ok := have.Max(); ok && next <= m {
			l.Reused++
			l.problem("boot %d: next=%d but the store lists seq %d", n, next, m)
		}
		lost := l.acked.Minus(&have)
		if c.Lost = lost.Len(); c.Lost > 0 {
			l.Lost += c.Lost
			why := ""
			if c.Recovered {
				l.LostInQuarantine += c.Lost
				why = " (the store was quarantined)"
			}
			l.problem("boot %d: %d acknowledged records lost%s: %s", n, c.Lost, why, lost.Format(8))
			l.acked.Remove(lost) // count each loss once
		}
	}
	for _, ln := range lines {
		if listing && ln.Kind != KindHave {
			endListing()
		}
		switch ln.Kind {
		case KindOpened:
			if c.Opened {
				l.problem("boot %d: OPENED twice", n)
				continue
			}
			c.Opened, c.Recovered, listing, next = true, ln.Recovered, true, ln.Next
			if ln.Recovered {
				// The spec's quarantine path: the damaged store is moved
				// aside and a new one, with a new ID, starts a new
				// sequence. Still a failure: what it held is gone.
				l.Quarantined++
				l.problem("boot %d: the store was quarantined (recovered=1)", n)
				l.seen = SeqSet{}
			}
			if m, ok := l.seen.Max(); ok && ln.Next <= m {
				l.Reused++
				l.problem("boot %d: next=%d but seq %d was already acknowledged or listed", n, ln.Next, m)
			}
		case KindHave:
			if !listing {
				l.problem("boot %d: HAVE %d-%d outside the listing", n, ln.From, ln.To)
				continue
			}
			c.Have += ln.To - ln.From + 1
			if d := have.Add(ln.From, ln.To); d > 0 {
				l.Duplicates += d
				l.problem("boot %d: %d seqs of HAVE %d-%d listed twice", n, d, ln.From, ln.To)
			}
			l.seen.Add(ln.From, ln.To)
		case KindHostAck:
			l.HostAcks++
			hostAcked.Add(ln.From, ln.To)
		case KindPuback:
			l.Released++
			if !hostAcked.Contains(ln.From) {
				l.Unacked++
				l.problem("boot %d: PUBACK %d, which the harness never acknowledged: the workload released it on its own", n, ln.From)
			}
			var one SeqSet
			one.Add(ln.From, ln.To)
			l.acked.Remove(&one)
		case KindDeleted:
			l.Deleted++
			l.deleted.Add(ln.From, ln.To)
		case KindStore:
			l.Sizes = append(l.Sizes, SizePoint{Boot: n, Disk: ln.Disk, Live: ln.Live, OpenMS: ln.OpenMS})
			if ln.Disk > 4*ln.Live+SizeAllowance {
				l.OverSize++
				l.problem("boot %d: the store takes %d bytes for %d live, above 4 × live + %d", n, ln.Disk, ln.Live, SizeAllowance)
			}
		case KindBroken:
			l.Broken++
			l.problem("boot %d: BROKEN %s", n, ln.Text)
		case KindCommit:
			if !c.Listed {
				l.problem("boot %d: COMMIT %d before the store was open", n, ln.From)
			}
			c.Commits++
			l.Acked++
			if l.seen.Contains(ln.From) {
				l.Reused++
				if reusedAt == 0 {
					reusedAt = ln.From
				}
				reusedN++
			}
			l.acked.Add(ln.From, ln.From)
			l.seen.Add(ln.From, ln.From)
		}
	}
	if reusedN > 0 {
		l.problem("boot %d: %d COMMITs reuse seqs already acknowledged or listed, from %d on", n, reusedN, reusedAt)
	}
	// A boot cut before its listing ended checks nothing: the next boot
	// that lists completely checks these acknowledgements.
	return c
}
