package powerloss

import (
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// Phase is where in a boot a cut lands.
//
//	qemu starts ──boot──▶ INIT MOUNTING ──mount──▶ INIT START ──open──▶ listing ends ──write──▶ …
//	                                                                          └─ COMPACT BEGIN ──compaction──▶ COMPACT END
//
// boot covers the kernel and module loading, mount the ext4 mount with its
// journal replay, open the store's open, its recovery and the HAVE listing.
// PhaseEvent is not a phase of the boot but an aim: a store event (Cut.Event)
// wherever in the boot it comes.
type Phase int

const (
	PhaseBoot Phase = iota
	PhaseMount
	PhaseOpen
	PhaseWrite
	PhaseCompact
	PhaseEvent
	numPhases
)

func (p Phase) String() string {
	switch p {
	case PhaseBoot:
		return "boot"
	case PhaseMount:
		return "mount"
	case PhaseOpen:
		return "open"
	case PhaseWrite:
		return "write"
	case PhaseCompact:
		return "compaction"
	case PhaseEvent:
		return "event"
	}
	return "phase?"
}

// Cut is one planned power cut: the phase to aim at, and U in [0,1), how
// far into that phase's window to cut (see Config for the windows). An
// event cut (PhaseEvent) cuts Delay after the workload announces the Nth
// Event of its boot, and ignores U.
type Cut struct {
	Phase Phase
	U     float64

	Event StoreEvent
	Nth   int
	Delay time.Duration
}

// planWeights is the share of cuts per phase. Writing and compaction are
// where a store's state changes most; boot, mount and open are where a cut
// is most often forgotten. The boot phase is long but touches no disk, so
// the mount (milliseconds, but the journal replay) gets its own share.
// Three cuts in ten aim at store events (rotation, GC, close, open; see
// aimEvents), the rest at phases in the shares they had before.
var planWeights = [numPhases]float64{PhaseBoot: 0.07, PhaseMount: 0.07, PhaseOpen: 0.17, PhaseWrite: 0.21, PhaseCompact: 0.18, PhaseEvent: 0.3}

// taskWeights is the share of cuts per phase in the task run: most cuts
// land while the task runs (write: between two of its checkpoints, or
// during one), the rest while the node boots and the runner's store opens.
// The task workload does not compact.
var taskWeights = [numPhases]float64{PhaseBoot: 0.1, PhaseMount: 0.1, PhaseOpen: 0.15, PhaseWrite: 0.65}

// PlanCuts returns n cuts for seed: the same seed, the same plan. Every
// phase gets at least one cut when n >= 6, then shares follow planWeights.
func PlanCuts(seed int64, n int) []Cut {
	cuts := planWeighted(seed, n, planWeights, 0x7e7e_7e7e)
	aimEvents(seed, cuts)
	return cuts
}

// PlanTaskCuts returns the task run's budget of cuts for seed: the first
// aim in taskWeights' shares, each phase at least once when aim >= 4, and
// the rest (the cuts the task may need beyond aim) the same way.
func PlanTaskCuts(seed int64, aim, budget int) []Cut {
	aim = min(aim, budget)
	return append(planWeighted(seed, aim, taskWeights, 0x7a5c), planWeighted(seed, budget-aim, taskWeights, 0x7a5d)...)
}

// planWeighted returns n cuts in the shares of weights, every phase with a
// share getting at least one when n allows, shuffled by seed and salt.
func planWeighted(seed int64, n int, weights [numPhases]float64, salt uint64) []Cut {
	var count [numPhases]int
	type rem struct {
		p Phase
		f float64
	}
	var rems []rem
	left := n
	for p := range numPhases {
		exact := float64(n) * weights[p]
		count[p] = int(math.Floor(exact))
		left -= count[p]
		rems = append(rems, rem{p, exact - float64(count[p])})
	}
	sort.SliceStable(rems, func(i, j int) bool { return rems[i].f > rems[j].f })
	for i := 0; left > 0; i, left = i+1, left-1 {
		count[rems[i%len(rems)].p]++
	}
	phases := 0
	for p := range numPhases {
		if weights[p] > 0 {
			phases++
		}
	}
	if n >= phases {
		for p := range numPhases {
			for weights[p] > 0 && count[p] == 0 {
				count[largest(count)]--
				count[p]++
			}
		}
	}
	rng := rand.New(rand.NewPCG(uint64(seed), salt))
	cuts := make([]Cut, 0, n)
	for p := range numPhases {
		for range count[p] {
			cuts = append(cuts, Cut{Phase: p})
		}
	}
	rng.Shuffle(len(cuts), func(i, j int) { cuts[i], cuts[j] = cuts[j], cuts[i] })
	for i := range cuts {
		cuts[i].U = rng.Float64()
	}
	return cuts
}

func largest(count [numPhases]int) Phase {
	best := Phase(0)
	for p := range numPhases {
		if count[p] > count[best] {
			best = p
		}
	}
	return best
}
