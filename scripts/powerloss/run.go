package powerloss

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"
)

// Config is one power-cut run. Zero fields get the defaults of
// ensureDefaults; VM's files are required.
type Config struct {
	VM   VMConfig
	Cuts int
	Seed int64
	Plan []Cut // replaces PlanCuts(Seed, Cuts) when set

	// Task, when set, makes this the task run (see TaskConfig): Cuts is
	// then its budget, and the plan PlanTaskCuts'.
	Task *TaskConfig

	// NoAcks: the workload does not read acknowledgements (the self-test
	// workload releases nothing), so the harness sends none; they would
	// only keep the guest's UART busy.
	NoAcks bool

	// VolatileCache serves the disk through a volatile write cache
	// (volatileDisk over NBD) instead of qemu's cache=none: at each cut,
	// every block written since the last flush and not FUA reaches the
	// image or not, at random (seeded). This is what killing qemu alone
	// cannot show: unflushed writes lost and reordered.
	VolatileCache bool

	// WriteWindow: a write cut lands U×WriteWindow after the listing ends.
	WriteWindow time.Duration
	// CompactWait: how long a compaction cut waits for COMPACT BEGIN
	// before it cuts anyway (and counts the markers missing).
	CompactWait time.Duration
	// EventWait: how long after the listing an event cut waits for its
	// event before it cuts anyway (and counts the event missing).
	EventWait time.Duration
	// BootTimeout (qemu start to START) and OpenTimeout (START to the end
	// of the listing) are far above what the VM needs, even with the
	// other CPU busy: TCG is slow, a failure is not.
	BootTimeout time.Duration
	OpenTimeout time.Duration

	// Until, when set, ends the cutting at that time: the boot under way
	// is cut as planned, then the final boot checks (Report.Stopped). A
	// long run sized for the machine's best pace still ends when planned.
	Until time.Time

	Logger  *slog.Logger
	Console io.Writer // every console line, prefixed by boot and time; may be nil
}

func (c *Config) ensureDefaults() {
	if c.VM.Cache == "" {
		c.VM.Cache = "none"
	}
	if c.VM.Memory == "" {
		c.VM.Memory = "256M"
	}
	if c.WriteWindow == 0 {
		c.WriteWindow = 4 * time.Second
	}
	if c.CompactWait == 0 {
		c.CompactWait = 30 * time.Second
	}
	if c.EventWait == 0 {
		c.EventWait = 30 * time.Second
	}
	if c.BootTimeout == 0 {
		c.BootTimeout = 2 * time.Minute
	}
	if c.OpenTimeout == 0 {
		c.OpenTimeout = 2 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Task != nil {
		c.Task.ensureDefaults(c)
	}
	if c.Plan == nil {
		c.Plan = PlanCuts(c.Seed, c.Cuts)
	}
	c.Cuts = len(c.Plan)
}

// Validate says what is missing.
func (c *Config) Validate() error {
	var miss []string
	for name, v := range map[string]string{"VM.Qemu": c.VM.Qemu, "VM.Kernel": c.VM.Kernel, "VM.Initrd": c.VM.Initrd, "VM.Disk": c.VM.Disk} {
		if v == "" {
			miss = append(miss, name)
		}
	}
	if len(miss) > 0 {
		return fmt.Errorf("powerloss config: %s not set", strings.Join(miss, ", "))
	}
	if c.VM.Cache != "none" && c.VM.Cache != "directsync" {
		return fmt.Errorf("powerloss config: cache=%q: use none or directsync (the host's page cache must not hold the guest's flushed writes)", c.VM.Cache)
	}
	if c.Task != nil {
		return c.Task.validate(c)
	}
	return nil
}

// Run boots the VM Cuts+1 times on the same disk: each boot but the last
// ends in a planned cut, and the last one only checks. The task run stops
// cutting once the task is done (or the budget is spent) and checks once
// more. Run stops at the first boot that fails (the store did not open,
// the VM did not boot, the task stalled) and returns an error only when
// the harness itself could not work.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.ensureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	rep := &Report{Seed: cfg.Seed, Cache: "qemu cache=" + cfg.VM.Cache}
	if cfg.VolatileCache {
		rep.Cache = "volatile write cache (NBD), unflushed blocks kept or lost at random at each cut"
	}
	for _, c := range cfg.Plan {
		rep.Planned[c.Phase]++
		if c.Phase == PhaseEvent {
			rep.Events[c.Event].Planned++
		}
	}
	var led Ledger
	var tl *TaskLedger
	var bl *BlobLedger // the task workload's transfer of task data (blob.go)
	if cfg.Task != nil {
		tl = &TaskLedger{Want: cfg.Task.Output}
		bl = &BlobLedger{}
		rep.Task = &TaskReport{Units: cfg.Task.Units, UnitMS: cfg.Task.UnitMS, Every: cfg.Task.Every, Step: cfg.Task.step,
			MinCuts: cfg.Task.MinCuts, Aim: cfg.Task.Aim, CutsBeforeEnd: -1}
	}
	w := initialWindows()
	start := time.Now()
	defer func() {
		rep.Elapsed = time.Since(start)
		rep.Stats = led.Stats
		if tl != nil {
			rep.Task.TaskStats = tl.TaskStats
			rep.Task.Blob = bl.BlobStats
			rep.Task.CheckpointInterval = w.checkpoint.d
			if !tl.Finished && rep.Failure == "" {
				rep.Failure = fmt.Sprintf("the task was not done after %d cuts (the budget)", rep.Cuts)
			}
		}
	}()
	var cutsBefore []int // rep.Cuts when boot n started
	for n := 0; ; n++ {
		var cut *Cut
		if n < len(cfg.Plan) && (tl == nil || !tl.Finished) {
			cut = &cfg.Plan[n]
			if !cfg.Until.IsZero() && time.Now().After(cfg.Until) {
				cut, rep.Stopped = nil, true
			}
		}
		cutsBefore = append(cutsBefore, rep.Cuts)
		b, err := runBoot(ctx, &cfg, n, cut, w)
		if err != nil {
			return rep, err
		}
		rep.Boots++
		rep.Malformed += b.malformed
		rep.CacheKept += b.cacheKept
		rep.CacheLost += b.cacheLost
		if b.mountOpts != "" && rep.MountOptions == "" {
			rep.MountOptions = b.mountOpts
		}
		chk := led.Apply(n, b.lines)
		if cut != nil && b.fail == "" {
			rep.Cuts++
			rep.Landed[b.landed]++
			switch {
			case cut.Phase == PhaseEvent && b.missing:
				rep.Events[cut.Event].Missed++
			case cut.Phase == PhaseEvent:
				rep.Events[cut.Event].add(b.cutAt-b.eventAt, b.landed)
			case b.missing:
				rep.CompactMissing++
			}
		}
		attrs := []any{"boot", n, "at", b.cutAt.Round(time.Millisecond), "have", chk.Have, "commits", chk.Commits, "lost", chk.Lost}
		if cut != nil {
			attrs = append(attrs, "aim", cut.aim(), "landed", b.landed.String())
		}
		if tl != nil {
			tl.Apply(n, b.lines)
			bl.Apply(n, b.lines, cut != nil && b.fail == "")
			if tl.Finished && rep.Task.CutsBeforeEnd < 0 {
				rep.Task.CutsBeforeEnd = cutsBefore[tl.FinishBoot]
			}
			if cut != nil && b.resumedAt != 0 && b.doneAt == 0 && b.cutAt != 0 {
				rep.Task.Lost = append(rep.Task.Lost, b.cutAt-b.ckptAt)
			}
			switch {
			case b.doneAt != 0:
				attrs = append(attrs, "task", fmt.Sprintf("%d→done", b.from))
			case b.resumedAt != 0:
				attrs = append(attrs, "task", fmt.Sprintf("%d→%d of %d", b.from, b.progress, cfg.Task.Units))
			}
		}
		if b.fail != "" {
			if b.failOpen {
				rep.FailedOpen++
			}
			rep.Failure = fmt.Sprintf("boot %d: %s", n, b.fail)
			rep.FailureTail = strings.Join(b.tail, "")
			log.Error("boot failed", append(attrs, "why", b.fail)...)
			break
		}
		log.Info("cut", attrs...)
		if cut == nil {
			break
		}
	}
	return rep, nil
}

// runBoot boots once and cuts the power as planned.
func runBoot(ctx context.Context, cfg *Config, n int, cut *Cut, w *windows) (*boot, error) {
	b := &boot{n: n, cut: cut}
	if !cfg.NoAcks {
		b.acks = newAcker(cfg.Seed, n)
	}
	if cfg.Task != nil {
		b.step = cfg.Task.step
	}
	if cfg.Console != nil {
		aim := "check only"
		if cut != nil {
			aim = fmt.Sprintf("cut in %s at %.3f of its window", cut.Phase, cut.U)
			if cut.Phase == PhaseEvent {
				aim = "cut " + cut.aim()
			}
		}
		fmt.Fprintf(cfg.Console, "=== boot %d: %s\n", n, aim)
	}
	vmc := cfg.VM
	var disk *volatileDisk
	var nbd *nbdServer
	if cfg.VolatileCache {
		var err error
		if disk, err = openVolatileDisk(cfg.VM.Disk); err != nil {
			return nil, err
		}
		if nbd, err = startNBD(disk); err != nil {
			return nil, err
		}
		vmc.NBDSocket = nbd.Socket
	}
	vm, err := StartVM(vmc)
	if err != nil {
		if nbd != nil {
			nbd.Close()
		}
		return nil, err
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	ackTimer := time.NewTimer(time.Hour)
	defer ackTimer.Stop()
	var ctxErr error
loop:
	for {
		at, timeout := b.next(cfg, w)
		timer.Reset(max(0, at-vm.Since()))
		if ackAt, ok := b.acks.next(); ok {
			ackTimer.Reset(max(0, ackAt-vm.Since()))
		} else {
			ackTimer.Stop()
		}
		select {
		case <-ackTimer.C:
			b.sendAcks(vm, vm.Since(), cfg.Console)
		case l, ok := <-vm.Lines:
			if !ok {
				if b.fail == "" {
					b.fail = "qemu ended by itself"
				}
				break loop
			}
			b.take(l, w, cfg.Console)
			if b.fail != "" {
				vm.Kill()
				break loop
			}
		case <-timer.C:
			if timeout != "" {
				b.fail, b.failOpen = timeout, b.startAt != 0 && b.listedAt == 0
			}
			b.missing = cut != nil && (cut.Phase == PhaseCompact && !b.sawCompact || cut.Phase == PhaseEvent && b.eventAt == 0)
			b.cutAt = vm.Since()
			if err := vm.Kill(); err != nil {
				return nil, fmt.Errorf("cutting the power: %w", err)
			}
			break loop
		case <-ctx.Done():
			vm.Kill()
			ctxErr = ctx.Err()
			break loop
		}
	}
	for l := range vm.Lines { // printed before the cut: they count
		b.take(l, w, cfg.Console)
	}
	if err := vm.Wait(); err != nil && b.cutAt == 0 && b.fail == "" && ctxErr == nil {
		b.fail = fmt.Sprintf("qemu: %v: %s", err, vm.Stderr())
	}
	if b.fail != "" && vm.Stderr() != "" {
		b.tail = append(b.tail, "qemu stderr: "+vm.Stderr())
	}
	if nbd != nil {
		if err := nbd.Close(); err != nil {
			return nil, fmt.Errorf("serving the disk: %w", err)
		}
		rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(n)))
		if b.cacheKept, b.cacheLost, err = disk.PowerCut(rng); err != nil {
			return nil, fmt.Errorf("cutting the disk's cache: %w", err)
		}
	}
	b.landed = b.observedPhase()
	if ctxErr != nil {
		return nil, ctxErr
	}
	return b, nil
}
