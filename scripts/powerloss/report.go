package powerloss

import (
	"fmt"
	"strings"
	"time"
)

// Report is the outcome of one Run.
type Report struct {
	Seed           int64
	Cache          string // how the disk is attached
	CacheKept      int    // volatile cache: unflushed blocks that reached the image at a cut
	CacheLost      int    // volatile cache: unflushed blocks lost at a cut
	MountOptions   string // as /proc/mounts showed them in the guest
	Cuts           int    // power cuts made (a failed boot is not one)
	Boots          int    // cuts + the final check (+ a failed boot)
	Planned        [numPhases]int
	Landed         [numPhases]int // where the cuts landed, from the console
	CompactMissing int            // compaction cuts that saw no COMPACT BEGIN
	Malformed      int            // protocol lines that did not parse: a failure
	FailedOpen     int            // boots whose store (or its filesystem) did not open
	Failure        string         // why the run stopped early
	Stopped        bool           // Config.Until ended the cutting before the plan did
	FailureTail    string         // the failed boot's last console lines
	Elapsed        time.Duration
	Stats
	Task *TaskReport // the task run's; nil for the store run

	// Events are the cuts aimed at store events, by kind.
	Events [numEvents]EventCuts
}

// OK reports whether every invariant held, over a run that checked
// enough for that to mean something (Thin).
func (r *Report) OK() bool {
	return r.Failure == "" && r.FailedOpen == 0 && r.Lost == 0 && r.Resurrected == 0 && r.Unacked == 0 && r.OverSize == 0 && r.Duplicates == 0 && r.Reused == 0 && r.Quarantined == 0 && r.Broken == 0 &&
		r.Malformed == 0 && len(r.Thin()) == 0 && (r.Task == nil || r.Task.OK())
}

// A run must check something to pass: at least minAckedPerCut records
// acknowledged per cut made (the store run acknowledges ~150 a cut, the
// task run ~10), a complete listing for at least one boot in
// cutsPerListing (about half its boots list completely: the others are
// cut while booting, mounting or opening), and at least half of what was
// acknowledged checked by a later listing (the final boot checks all).
const (
	minAckedPerCut = 2
	cutsPerListing = 4
)

// Thin says why the run checked too little for its invariants to prove
// anything; none when it checked enough.
func (r *Report) Thin() []string {
	var out []string
	if r.Cuts == 0 {
		out = append(out, "no power cut was made")
	}
	if r.Acked < uint64(max(1, minAckedPerCut*r.Cuts)) {
		out = append(out, fmt.Sprintf("%d records acknowledged over %d cuts, fewer than %d a cut", r.Acked, r.Cuts, minAckedPerCut))
	}
	if want := max(1, r.Cuts/cutsPerListing); r.Verified < want {
		out = append(out, fmt.Sprintf("%d complete listings checked, fewer than %d", r.Verified, want))
	}
	if r.Released > 0 && r.DeletedChecked == 0 {
		out = append(out, fmt.Sprintf("%d records released, but no durable deletion checked by a later listing", r.Released))
	}
	if r.Planned[PhaseEvent] > 0 && r.EventCuts() == 0 {
		out = append(out, fmt.Sprintf("%d cuts aimed at store events, none made after its event", r.Planned[PhaseEvent]))
	}
	if r.Checked*2 < r.Acked {
		out = append(out, fmt.Sprintf("%d of %d acknowledged records checked by a later listing, fewer than half", r.Checked, r.Acked))
	}
	return out
}

// EventCuts is how many cuts were made after the event they aimed at.
func (r *Report) EventCuts() int {
	n := 0
	for _, e := range r.Events {
		n += len(e.Delays)
	}
	return n
}

// SecondsPerCut is the wall time of the run, the final check included,
// divided by the cuts.
func (r *Report) SecondsPerCut() float64 {
	if r.Cuts == 0 {
		return 0
	}
	return r.Elapsed.Seconds() / float64(r.Cuts)
}

// phaseCounts lists the counts per phase; event (an aim, never where a
// cut lands) only withEvent.
func phaseCounts(c [numPhases]int, withEvent bool) string {
	var parts []string
	for p := range numPhases {
		if p == PhaseEvent && !withEvent {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d", p, c[p]))
	}
	return strings.Join(parts, ", ")
}

// String is the report as people read it.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d (replay: -seed=%d), disk: %s\n", r.Seed, r.Seed, r.Cache)
	if r.CacheKept+r.CacheLost > 0 {
		fmt.Fprintf(&b, "unflushed 4 KiB blocks at the cuts: %d written, %d lost\n", r.CacheKept, r.CacheLost)
	}
	fmt.Fprintf(&b, "guest ext4 options: %s\n", durabilityOptions(r.MountOptions))
	fmt.Fprintf(&b, "cuts %d in %d boots, %.1f s per cut (%v)\n", r.Cuts, r.Boots, r.SecondsPerCut(), r.Elapsed.Round(time.Second))
	if r.Stopped {
		fmt.Fprintf(&b, "stopped at the time set (Config.Until, POWERLOSS_UNTIL) after %d cuts, then checked\n", r.Cuts)
	}
	fmt.Fprintf(&b, "cuts by phase (landed): %s\n", phaseCounts(r.Landed, false))
	fmt.Fprintf(&b, "cuts by phase (aimed):  %s; compaction cuts without a marker: %d\n", phaseCounts(r.Planned, true), r.CompactMissing)
	for e := range numEvents {
		if r.Events[e].Planned > 0 {
			fmt.Fprintf(&b, "cuts aimed at %s events: %s\n", e, &r.Events[e])
		}
	}
	fmt.Fprintf(&b, "records acknowledged %d, %d of them checked after a later cut; %d complete listings\n", r.Acked, r.Checked, r.Verified)
	fmt.Fprintf(&b, "acknowledged records lost %d (%d with a quarantine), duplicates %d, seqs reused %d\n", r.Lost, r.LostInQuarantine, r.Duplicates, r.Reused)
	fmt.Fprintf(&b, "acknowledgements sent by the harness %d, releases without one %d\n", r.HostAcks, r.Unacked)
	fmt.Fprintf(&b, "records released %d, deletions made durable %d (%d checked by a later listing), deleted records listed again %d\n", r.Released, r.Deleted, r.DeletedChecked, r.Resurrected)
	if len(r.Sizes) > 0 {
		first, last := r.Sizes[0], r.Sizes[len(r.Sizes)-1]
		var most SizePoint
		var slowest int64
		for _, p := range r.Sizes {
			if p.Disk > most.Disk {
				most = p
			}
			slowest = max(slowest, p.OpenMS)
		}
		fmt.Fprintf(&b, "store size (disk/live KiB) first %d/%d, largest %d/%d (boot %d), last %d/%d; over 4 × live + %d MiB %d times; open first %d ms, slowest %d ms, last %d ms\n",
			first.Disk>>10, first.Live>>10, most.Disk>>10, most.Live>>10, most.Boot, last.Disk>>10, last.Live>>10, SizeAllowance>>20, r.OverSize,
			first.OpenMS, slowest, last.OpenMS)
	}
	fmt.Fprintf(&b, "stores that failed to open %d, quarantined %d, workload invariants broken %d, malformed lines %d\n", r.FailedOpen, r.Quarantined, r.Broken, r.Malformed)
	if r.Task != nil {
		b.WriteString(r.Task.String())
	}
	if r.Failure != "" {
		fmt.Fprintf(&b, "stopped: %s\n", r.Failure)
	}
	for _, p := range r.Thin() {
		fmt.Fprintf(&b, "too little checked: %s\n", p)
	}
	if r.Malformed > 0 {
		fmt.Fprintf(&b, "%d malformed protocol lines: the console cannot be trusted\n", r.Malformed)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	if r.Task != nil {
		for _, p := range r.Task.Problems {
			fmt.Fprintf(&b, "  task: %s\n", p)
		}
		for _, p := range r.Task.Blob.Problems {
			fmt.Fprintf(&b, "  task data: %s\n", p)
		}
		switch {
		case r.Task.Blob.Fetched == 0:
			b.WriteString("  task data: no blob was fetched\n")
		case r.Task.Blob.MidTransfer == 0:
			b.WriteString("  task data: no cut landed mid-transfer\n")
		}
		if r.Task.Finished && r.Task.CutsBeforeEnd < r.Task.MinCuts {
			fmt.Fprintf(&b, "  task: ended after %d cuts, fewer than %d: the task is too small for the plan (calibration)\n", r.Task.CutsBeforeEnd, r.Task.MinCuts)
		}
	}
	return b.String()
}

// durabilityOptions keeps the ext4 options that decide what survives a
// cut, from the full list init prints.
func durabilityOptions(all string) string {
	var keep []string
	for _, o := range strings.Split(all, ",") {
		name, _, _ := strings.Cut(o, "=")
		switch name {
		case "data", "barrier", "nobarrier", "commit", "delalloc", "nodelalloc", "journal_checksum", "journal_async_commit", "auto_da_alloc", "noauto_da_alloc", "errors":
			keep = append(keep, o)
		}
	}
	return strings.Join(keep, ",")
}

// TaskReport is the task run's part of a Report.
type TaskReport struct {
	Units, UnitMS, Every int64 // the task
	Step                 int64 // units a write cut waited for past the boot's resume point
	MinCuts, Aim         int
	// CutsBeforeEnd is how many cuts were made before the boot in which
	// the task ended (-1: it did not).
	CutsBeforeEnd int
	// CheckpointInterval is the time between two checkpoints in the VM,
	// as the run last measured it.
	CheckpointInterval time.Duration
	// Lost is, for each cut of a boot that ran the task, how long it had
	// run since its last durable checkpoint (or its start): the work that
	// boot computes again.
	Lost []time.Duration
	TaskStats
	// Blob is the transfer of task data the workload runs beside the task.
	Blob BlobStats
}

// OK reports whether the task run's own checks held.
func (t *TaskReport) OK() bool {
	return t.Finished && len(t.Problems) == 0 && t.Backwards == 0 && t.CutsBeforeEnd >= t.MinCuts && t.Blob.OK()
}

// lostSummary is the mean and the largest of Lost.
func (t *TaskReport) lostSummary() (mean, most time.Duration) {
	if len(t.Lost) == 0 {
		return 0, 0
	}
	var sum time.Duration
	for _, d := range t.Lost {
		sum += d
		most = max(most, d)
	}
	return sum / time.Duration(len(t.Lost)), most
}

func (t *TaskReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "task: cpu builtin, %d units of %d ms, a checkpoint every %d units (%v apart in the VM); write cuts wait for %d units past the resume point\n",
		t.Units, t.UnitMS, t.Every, t.CheckpointInterval.Round(time.Millisecond), t.Step)
	end := "did not end"
	if t.Finished {
		end = fmt.Sprintf("ended in boot %d after %d cuts (at least %d wanted, %d aimed at)", t.FinishBoot, t.CutsBeforeEnd, t.MinCuts, t.Aim)
	}
	fmt.Fprintf(&b, "task %s; submitted %d, started %d times, %d checkpoints printed, DONE printed %d\n", end, t.Submits, t.Resumes, t.Checkpoints, t.Dones)
	fmt.Fprintf(&b, "task output %s\n", t.Output)
	mean, most := t.lostSummary()
	perUnit := time.Duration(0)
	if t.Every > 0 {
		perUnit = t.CheckpointInterval / time.Duration(t.Every)
	}
	lostUnits := func(d time.Duration) string {
		if perUnit == 0 {
			return "?"
		}
		return fmt.Sprintf("~%.1f", float64(d)/float64(perUnit))
	}
	fmt.Fprintf(&b, "task work lost per cut (since its last durable checkpoint): mean %v (%s units), max %v (%s units), over %d cuts; resumed behind a printed checkpoint %d\n",
		mean.Round(time.Millisecond), lostUnits(mean), most.Round(time.Millisecond), lostUnits(most), len(t.Lost), t.Backwards)
	b.WriteString(t.Blob.String())
	return b.String()
}
