package powerloss

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// StoreEvent is a moment in the store's life that the workload announces
// on the console as it begins (EVENT <kind> <n>), so a cut can be aimed at
// it rather than at a phase of the boot.
type StoreEvent int

const (
	EventRotate StoreEvent = iota // a new write-ahead (memtable) or value-log file
	EventGC                       // value-log garbage collection
	EventClose                    // the store's close within a boot
	EventOpen                     // an open of the store: the boot's own is 1, a reopen after a close the next
	numEvents
)

func (e StoreEvent) String() string {
	switch e {
	case EventRotate:
		return "rotate"
	case EventGC:
		return "gc"
	case EventClose:
		return "close"
	case EventOpen:
		return "open"
	}
	return "event?"
}

func parseStoreEvent(s string) (StoreEvent, bool) {
	for e := range numEvents {
		if e.String() == s {
			return e, true
		}
	}
	return 0, false
}

// The delay after an event is drawn from a Pareto distribution of shape
// delayAlpha bounded to [minDelay, maxDelay]: its median is ~6 ms, one in
// six is over 100 ms and one in 25 over a second. Most cuts land inside
// the event (a close takes tens of milliseconds in the VM), the tail in
// whatever follows it: the writes after a rotation, the open after a close.
const (
	minDelay   = time.Millisecond
	maxDelay   = 5 * time.Second
	delayAlpha = 0.35
)

// maxNth is the largest occurrence a cut waits for: the store workload
// closes, collects and reopens about once per boot, so the second is the
// last most boots see.
const maxNth = 2

// paretoDelay maps u in [0,1) to the bounded Pareto distribution by its
// inverse CDF.
func paretoDelay(u float64) time.Duration {
	lo, hi := minDelay.Seconds(), maxDelay.Seconds()
	r := math.Pow(lo/hi, delayAlpha)
	x := lo / math.Pow(1-u*(1-r), 1/delayAlpha)
	return min(maxDelay, max(minDelay, time.Duration(x*float64(time.Second))))
}

// aimEvents fills in the event cuts of a plan: each kind equally often
// (the kinds in turn, from a seeded start), the k-th occurrence with k
// uniform in [1, maxNth], and the delay. Its own stream of the seed, so
// the plan's phases and U are those of the plan without events.
func aimEvents(seed int64, cuts []Cut) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0xe7e7))
	kind := StoreEvent(rng.IntN(int(numEvents)))
	for i := range cuts {
		if cuts[i].Phase != PhaseEvent {
			continue
		}
		cuts[i].Event = kind
		cuts[i].Nth = 1 + rng.IntN(maxNth)
		cuts[i].Delay = paretoDelay(rng.Float64())
		kind = (kind + 1) % numEvents
	}
}

// aim says what the cut aims at, for the log and the console.
func (c *Cut) aim() string {
	if c.Phase != PhaseEvent {
		return c.Phase.String()
	}
	return fmt.Sprintf("%v after %s %d", c.Delay.Round(time.Microsecond), c.Event, c.Nth)
}

// EventCuts is what became of the cuts aimed at one kind of event.
type EventCuts struct {
	Planned int
	Missed  int             // the event did not come within Config.EventWait of the listing: cut then
	Delays  []time.Duration // for each cut after its event, from the event's line to the cut
	Landed  [numPhases]int  // and the phase of the boot it landed in
}

func (e *EventCuts) add(d time.Duration, landed Phase) {
	e.Delays = append(e.Delays, d)
	e.Landed[landed]++
}

// String is "n after the event (delay min / median / max; landed in …), m missed".
func (e *EventCuts) String() string {
	s := fmt.Sprintf("%d after the event", len(e.Delays))
	if len(e.Delays) > 0 {
		d := slices.Clone(e.Delays)
		slices.Sort(d)
		ms := func(x time.Duration) string { return fmt.Sprintf("%.0f ms", float64(x)/float64(time.Millisecond)) }
		s += fmt.Sprintf(" (delay min %s, median %s, max %s; landed in %s)", ms(d[0]), ms(d[len(d)/2]), ms(d[len(d)-1]), phaseCounts(e.Landed, false))
	}
	return s + fmt.Sprintf(", %d of %d planned missed", e.Missed, e.Planned)
}
