package powerloss

import (
	"fmt"
	"io"
	"time"

	"github.com/tether-edge/tether/scripts/powerloss/ackline"
)

// boot is one boot of the VM, from qemu's start to its end (a cut, or a
// failure). Times are since qemu started; zero means "not seen".
type boot struct {
	n   int
	cut *Cut // nil: the final boot, which only checks

	lines      []Line   // protocol lines, in order
	tail       []string // the last console lines, for a failure report
	malformed  int
	mountAt    time.Duration // TETHER-PL-INIT MOUNTING
	startAt    time.Duration // TETHER-PL-INIT START
	openedAt   time.Duration // OPENED
	listedAt   time.Duration // first protocol line after the listing
	compacting bool
	compactAt  time.Duration // the last COMPACT BEGIN
	sawCompact bool
	mountOpts  string
	eventAt    time.Duration // an event cut's event (Cut.Event, Nth)

	acks   *acker // the harness's acknowledgements (hostack.go); nil: none
	listed []Line // the HAVE lines, acknowledged once the listing ended

	cutAt     time.Duration
	cacheKept int    // volatile cache: unflushed blocks written at the cut
	cacheLost int    // and lost
	landed    Phase  // where the cut landed, from what the VM printed before it
	missing   bool   // a compaction cut that saw no COMPACT BEGIN, or an event cut no event
	fail      string // why the boot failed; empty for a planned cut
	failOpen  bool   // the failure is the store's (or its filesystem's)

	// The task run (Config.Task).
	step      int64         // a write cut waits for a checkpoint this far past from
	resumedAt time.Duration // TASK RESUMED-FROM
	from      int64         // where the attempt (re)started
	progress  int64         // the last checkpoint printed (from before the first)
	ckptAt    time.Duration // the last TASK PROGRESS, else RESUMED-FROM
	goalAt    time.Duration // the first PROGRESS at or past from + step
	doneAt    time.Duration // TASK DONE
}

const tailLines = 40

// take handles one console line.
func (b *boot) take(l ConsoleLine, w *windows, console io.Writer) {
	if console != nil {
		fmt.Fprintf(console, "%3d %8.3f %s", b.n, l.At.Seconds(), l.Text)
	}
	if len(b.tail) == tailLines {
		b.tail = b.tail[1:]
	}
	b.tail = append(b.tail, l.Text)
	ln, ok, err := ParseLine(l.Text)
	if !ok {
		return
	}
	if err != nil || ln.Kind == KindHostAck { // only the harness acknowledges
		b.malformed++
		return
	}
	b.lines = append(b.lines, ln)
	if b.openedAt != 0 && b.listedAt == 0 && ln.Kind != KindHave {
		b.listedAt = l.At
		w.open.observe(b.listedAt - b.startAt)
		// The records listed are published again, as an agent's uplink
		// sends its outbox at start: the broker acknowledges them too.
		for _, h := range b.listed {
			for seq := h.From; seq <= h.To && b.acks != nil; seq++ {
				b.acks.plan(seq, l.At)
			}
		}
		b.listed = nil
	}
	switch ln.Kind {
	case KindHave:
		if b.listedAt == 0 {
			b.listed = append(b.listed, ln)
		}
	case KindCommit:
		if b.listedAt != 0 && b.acks != nil {
			b.acks.plan(ln.From, l.At)
		}
	case KindInitMounting:
		b.mountAt = l.At
		w.boot.observe(l.At)
	case KindInitStart:
		b.startAt = l.At
		if b.mountAt != 0 {
			w.mount.observe(l.At - b.mountAt)
		}
	case KindInitMounted:
		b.mountOpts = ln.Text
	case KindOpened:
		b.openedAt = l.At
	case KindCompactBegin:
		b.compacting, b.compactAt, b.sawCompact = true, l.At, true
	case KindCompactEnd:
		if b.compacting {
			w.compact.observe(l.At - b.compactAt)
		}
		b.compacting = false
	case KindError:
		b.failOpen = b.listedAt == 0
		b.fail = "the workload: ERROR " + ln.Text
	case KindInitExit:
		b.failOpen = b.startAt != 0
		b.fail = "the workload exited with status " + ln.Text + " (the store failed to open, or crashed)"
	case KindInitError:
		b.failOpen = b.startAt == 0 && ln.Text == "mount /dev/vda"
		b.fail = "init: " + ln.Text
	case KindTask:
		b.takeTask(ln, l.At, w)
	case KindEvent:
		if c := b.cut; c != nil && c.Phase == PhaseEvent && ln.Store == c.Event && ln.Nth == c.Nth && b.eventAt == 0 {
			b.eventAt = l.At
		}
	}
}

// sendAcks writes into the guest's console the acknowledgements due at
// now, and records each one queued among the boot's lines, where the
// ledger looks for it before a PUBACK.
func (b *boot) sendAcks(vm *VM, now time.Duration, console io.Writer) {
	for _, seq := range b.acks.pop(now) {
		if !vm.Send(ackline.Format(seq)) {
			continue
		}
		b.lines = append(b.lines, Line{Kind: KindHostAck, From: seq, To: seq})
		if console != nil {
			fmt.Fprintf(console, "%3d %8.3f %sACK %d\n", b.n, now.Seconds(), hostPrefix, seq)
		}
	}
}

// takeTask follows the task run's task through a boot, for the timing of
// the cut.
func (b *boot) takeTask(ln Line, at time.Duration, w *windows) {
	switch ln.Event {
	case TaskResumed:
		b.resumedAt, b.from, b.progress, b.ckptAt = at, ln.Done, ln.Done, at
	case TaskProgress:
		if b.progress > b.from { // between two checkpoints, not since the start
			w.checkpoint.observe(at - b.ckptAt)
		}
		b.progress, b.ckptAt = ln.Done, at
		if b.goalAt == 0 && b.resumedAt != 0 && ln.Done >= b.from+b.step {
			b.goalAt = at
		}
	case TaskDone:
		b.doneAt = at
	case TaskFailed:
		b.fail = "the task ended without success: " + ln.Text
	}
}

// next returns when the boot's next event is due: the cut (timeout empty)
// or a timeout (its reason).
func (b *boot) next(cfg *Config, w *windows) (at time.Duration, timeout string) {
	var limit time.Duration
	switch {
	case b.startAt == 0:
		limit, timeout = cfg.BootTimeout, fmt.Sprintf("the workload did not start within %v of boot", cfg.BootTimeout)
	case b.listedAt == 0:
		limit, timeout = b.startAt+cfg.OpenTimeout, fmt.Sprintf("the store did not open and list within %v", cfg.OpenTimeout)
	case cfg.Task != nil && b.doneAt == 0:
		limit, timeout = max(b.listedAt, b.ckptAt)+cfg.Task.Stall, fmt.Sprintf("the task made no progress for %v", cfg.Task.Stall)
	default:
		limit = 1<<63 - 1
	}
	cut := time.Duration(-1)
	switch {
	case b.cut == nil && cfg.Task != nil:
		if b.listedAt != 0 {
			cut = b.listedAt + cfg.Task.FinalWait
		}
	case b.cut == nil:
		if b.listedAt != 0 {
			cut = b.listedAt
		}
	case b.cut.Phase == PhaseWrite && cfg.Task != nil:
		switch {
		case b.doneAt != 0:
			cut = b.doneAt + scale(b.cut.U, w.checkpoint.d)
		case b.goalAt != 0:
			cut = b.goalAt + scale(b.cut.U, w.checkpoint.d)
		}
	case b.cut.Phase == PhaseBoot:
		cut = scale(b.cut.U, w.boot.d)
	case b.cut.Phase == PhaseMount:
		if b.mountAt != 0 {
			cut = b.mountAt + scale(b.cut.U, w.mount.d)
		}
	case b.cut.Phase == PhaseOpen:
		if b.startAt != 0 {
			cut = b.startAt + scale(b.cut.U, w.open.d)
		}
	case b.cut.Phase == PhaseWrite:
		if b.listedAt != 0 {
			cut = b.listedAt + scale(b.cut.U, cfg.WriteWindow)
		}
	case b.cut.Phase == PhaseEvent:
		if b.eventAt != 0 {
			cut = b.eventAt + b.cut.Delay
		} else if b.listedAt != 0 {
			cut = b.listedAt + cfg.EventWait
		}
	case b.cut.Phase == PhaseCompact:
		if b.compacting {
			cut = b.compactAt + scale(b.cut.U, w.compact.d)
		} else if b.listedAt != 0 {
			cut = b.listedAt + cfg.CompactWait
		}
	}
	if cut >= 0 && cut <= limit {
		return cut, ""
	}
	return limit, timeout
}

// observedPhase is where the cut landed, judged from the lines printed
// before it.
func (b *boot) observedPhase() Phase {
	switch {
	case b.mountAt == 0 && b.startAt == 0:
		return PhaseBoot
	case b.startAt == 0:
		return PhaseMount
	case b.listedAt == 0:
		return PhaseOpen
	case b.compacting:
		return PhaseCompact
	}
	return PhaseWrite
}

func scale(u float64, d time.Duration) time.Duration { return time.Duration(u * float64(d)) }

// window is a running estimate of how long a phase lasts, used to spread
// cuts over it: the plan says how far in (Cut.U), the window how long.
type window struct {
	d        time.Duration
	observed bool
}

// observe folds a measured duration into the estimate (weight 1/4); the
// first measurement replaces the initial guess.
func (w *window) observe(d time.Duration) {
	switch {
	case d <= 0:
	case !w.observed:
		w.d, w.observed = d, true
	default:
		w.d = w.d - w.d/4 + d/4
	}
}

// windows are the estimates for the phases whose length the VM decides,
// and for the task run the time between two of the task's checkpoints.
type windows struct{ boot, mount, open, compact, checkpoint window }

// initialWindows hold until the first measurement. They are on the short
// side of what a 2-core TCG host shows (boot ~3 s, mount ~10 ms, the
// self-test workload opens in ~150 ms, compacts in ~15 ms): a cut aimed with a short window
// still lands in its phase, one aimed with a long window lands after it.
// The task's checkpoint window is measured between two checkpoints of a
// boot; a write cut of the first boots may use the guess.
func initialWindows() *windows {
	return &windows{boot: window{d: 2500 * time.Millisecond}, mount: window{d: 5 * time.Millisecond}, open: window{d: 100 * time.Millisecond},
		compact: window{d: 10 * time.Millisecond}, checkpoint: window{d: 200 * time.Millisecond}}
}
