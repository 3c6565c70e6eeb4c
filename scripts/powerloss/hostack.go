package powerloss

import (
	"math/rand/v2"
	"sort"
	"time"
)

// The harness is the workload's broker: it reads each COMMIT (and, once a
// boot's listing ended, each record listed) as a record published to it
// and acknowledges it over the serial console's input, as a broker's
// PUBACK reaches the agent, after a delay drawn for each record from the
// boot's seeded stream (ackDelay): at once, late, or never before the cut.
// The workload releases a record only on reading its acknowledgement
// (store.Ack, what the uplink calls on a PUBACK) and prints PUBACK then;
// the ledger refuses a PUBACK the harness never sent (Stats.Unacked).
//
// The line sent is ackline.Format's, ACK <seq> <check>: the workload
// ignores a line whose check does not match (one the emulated UART
// garbled). The console log records each
// acknowledgement sent, in the order of the guest's lines, as
//
//	TETHER-PL-HOST ACK <seq>
//
// which ParseLine reads as KindHostAck for a replay of the log; a guest
// that prints such a line itself makes a malformed line (boot.take).

// The shares of ackDelay: ackNow of the records are acknowledged as soon
// as their COMMIT is read, ackNever not in this boot (the next boot lists
// them, and they are drawn again), the rest after a delay from the bounded
// Pareto distribution of the event cuts (1 ms – 5 s, median ~6 ms, one in
// six over 100 ms).
const (
	ackNow   = 0.35
	ackNever = 0.15
)

const hostPrefix = "TETHER-PL-HOST "

// ackDelay draws when the harness acknowledges a record: the delay after
// it was read, or ok false for not in this boot.
func ackDelay(rng *rand.Rand) (d time.Duration, ok bool) {
	u := rng.Float64()
	switch {
	case u < ackNow:
		return 0, true
	case u < ackNow+ackNever:
		return 0, false
	}
	return paretoDelay(rng.Float64()), true
}

// acker holds one boot's acknowledgements not yet sent, by when they are
// due (since qemu started).
type acker struct {
	rng     *rand.Rand
	due     []dueAck // sorted by at
	planned SeqSet   // every seq drawn this boot: each is drawn once
	never   int      // drawn "not in this boot"
}

type dueAck struct {
	at  time.Duration
	seq uint64
}

func newAcker(seed int64, boot int) *acker {
	return &acker{rng: rand.New(rand.NewPCG(uint64(seed)^0xac4_ac4, uint64(boot)))}
}

// plan draws the acknowledgement of seq, read at now.
func (a *acker) plan(seq uint64, now time.Duration) {
	if a.planned.Contains(seq) {
		return
	}
	a.planned.Add(seq, seq)
	d, ok := ackDelay(a.rng)
	if !ok {
		a.never++
		return
	}
	at := now + d
	i := sort.Search(len(a.due), func(i int) bool { return a.due[i].at > at })
	a.due = append(a.due, dueAck{})
	copy(a.due[i+1:], a.due[i:])
	a.due[i] = dueAck{at, seq}
}

// next is when the next acknowledgement is due; ok false when none is
// (or a is nil: the harness sends none).
func (a *acker) next() (time.Duration, bool) {
	if a == nil || len(a.due) == 0 {
		return 0, false
	}
	return a.due[0].at, true
}

// pop returns the seqs due at now, in order, and forgets them.
func (a *acker) pop(now time.Duration) []uint64 {
	var out []uint64
	for len(a.due) > 0 && a.due[0].at <= now {
		out = append(out, a.due[0].seq)
		a.due = a.due[1:]
	}
	return out
}
