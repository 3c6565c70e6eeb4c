package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/tether-edge/tether/pkg/protocol"
)

// ErrClosed is returned by a Collector's methods after Close.
var ErrClosed = errors.New("collector closed")

// Collector reads the node's Facts and Samples. It is safe for concurrent
// use, though the agent samples from one goroutine.
type Collector struct {
	opts Options // with defaults
	log  *slog.Logger
	sys  system        // gopsutil, or a test's stand-in
	env  common.EnvMap // the roots, put in the context of every gopsutil call

	mu       sync.Mutex // guards everything below
	closed   bool
	buf      []byte // read buffer of the sysfs files
	sensors  []sensor
	throttle *throttleSource // nil: not a Raspberry Pi

	// The previous snapshots that rates are computed against; cur* are
	// their spare buffers, swapped in turn.
	cpuPrev, cpuCur []cpuTimes
	netPrev, netCur []ifCounters
	netAt           time.Time // when netPrev was read; zero: no baseline

	uvOccurred bool             // undervoltage seen via rpi_volt since New
	failing    [numSources]bool // the optional sources now failing
	facts      *protocol.Facts  // cached by the first Facts call
}

// Optional sources: when one fails, Sample leaves its field absent and logs
// the failure once, and the recovery once.
type source int

const (
	srcLoad source = iota
	srcUptime
	srcDisk
	srcNet
	srcThrottle
	numSources
)

func (s source) String() string {
	return [...]string{"load", "uptime", "disk", "net", "throttle"}[s]
}

// New returns a Collector for the machine opts describe. It finds the
// temperature sensors and the throttling source, and takes the CPU and
// network baseline the first Sample is computed against. It fails when
// the CPU times or the memory cannot be read.
func New(opts Options) (*Collector, error) {
	return newCollector(opts, psutil{})
}

// newCollector is New reading the machine through sys.
func newCollector(opts Options, sys system) (*Collector, error) {
	o := opts
	o.ensureDefaults()
	c := &Collector{
		opts:     o,
		log:      o.Logger.With("component", "collect"),
		sys:      sys,
		env:      roots(o),
		sensors:  discoverSensors(o.SysRoot),
		throttle: discoverThrottle(o.SysRoot),
	}
	ctx := c.withRoots(context.Background())
	var err error
	if c.cpuPrev, err = c.readCPU(ctx, c.cpuPrev); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.readMem(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if st, err := sys.netCounters(ctx); err == nil {
		c.netPrev, c.netAt = ifCountersFrom(nil, st), o.Now()
	}
	keys := make([]string, len(c.sensors))
	for i, s := range c.sensors {
		keys[i] = s.key
	}
	c.log.Debug("sources found", "sensors", keys, "throttle", c.throttle != nil)
	return c, nil
}

// withRoots returns ctx carrying the roots gopsutil reads under.
func (c *Collector) withRoots(ctx context.Context) context.Context {
	return context.WithValue(ctx, common.EnvKey, c.env)
}

// Close releases the sysfs files the Collector keeps open.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for i := range c.sensors {
		c.sensors[i].file.close()
	}
	if c.throttle != nil {
		c.throttle.file.close()
	}
	return nil
}

// Facts returns the node's static properties, read on the first call and
// cached: hostname, OS, Arch, Model, Platform, Kernel, Cores, MemTotal,
// BootID and BootTime. AgentVersion, Tier and Labels are the caller's, from
// its configuration. A failed first call is retried by the next.
//
// The first call may take a second or more: gopsutil's host.Info may run
// lsb_release (see readFacts). Sample waits for it.
func (c *Collector) Facts(ctx context.Context) (protocol.Facts, error) {
	if err := ctx.Err(); err != nil {
		return protocol.Facts{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return protocol.Facts{}, ErrClosed
	}
	if c.facts == nil {
		f, err := c.readFacts(c.withRoots(ctx))
		if err != nil {
			return protocol.Facts{}, err
		}
		c.facts = &f
	}
	return *c.facts, nil
}

// Sample reads the node's resources now. CPU and network figures are rates
// over the time since the previous Sample (or New, for the first): call it
// at the sampling interval; it does not wait.
//
// It fails only when the CPU times or the memory cannot be read; another
// source that fails leaves its field absent, and is logged when it starts
// and stops failing.
func (c *Collector) Sample(ctx context.Context) (Sample, error) {
	if err := ctx.Err(); err != nil {
		return Sample{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return Sample{}, ErrClosed
	}

	ctx = c.withRoots(ctx)
	var s Sample
	cur, err := c.readCPU(ctx, c.cpuCur)
	if err != nil {
		return Sample{}, err
	}
	s.CPU.Total, s.CPU.PerCore = cpuUsage(make([]float64, 0, len(cur)), c.cpuPrev, cur)
	c.cpuPrev, c.cpuCur = cur, c.cpuPrev

	vm, err := c.readMem(ctx)
	if err != nil {
		return Sample{}, err
	}
	s.Mem, _ = memUsage(vm) // checked by readMem

	opt := new(optional)
	if u, ok := swapUsage(vm); ok {
		opt.swap = u
		s.Swap = &opt.swap
	}

	a, err := c.sys.loadAvg(ctx)
	if err == nil {
		opt.load, err = loadAvg(a)
	}
	if c.report(srcLoad, err) {
		s.Load = &opt.load
	}

	s.UptimeS, err = c.sys.uptime(ctx)
	c.report(srcUptime, err)

	du, err := c.sys.diskUsage(ctx, c.opts.DataDir)
	if c.report(srcDisk, err) {
		opt.disk = protocol.Disk{Path: c.opts.DataDir, Usage: diskUsage(du)}
		s.Disk = &opt.disk
	}

	ok, err := c.readNet(ctx, &opt.net)
	if c.report(srcNet, err) && ok {
		s.Net = &opt.net
	}

	s.TempC = readTemps(c.sensors, &c.buf)

	if c.throttle != nil {
		if c.report(srcThrottle, c.readThrottle(&opt.throttle)) {
			s.Throttle = &opt.throttle
		}
	}
	return s, nil
}

// report records whether an optional source worked, logging when that
// changes, and returns true when it did.
func (c *Collector) report(src source, err error) bool {
	switch {
	case err != nil && !c.failing[src]:
		c.failing[src] = true
		c.log.Warn("source unavailable", "source", src.String(), "err", err)
	case err == nil && c.failing[src]:
		c.failing[src] = false
		c.log.Info("source available again", "source", src.String())
	}
	return err == nil
}

// readCPU reads the CPU times into dst.
func (c *Collector) readCPU(ctx context.Context, dst []cpuTimes) ([]cpuTimes, error) {
	dst, err := c.sys.cpuTimes(ctx, dst)
	if err == nil && len(dst) == 0 {
		err = errNoCPUs
	}
	if err != nil {
		return dst, fmt.Errorf("read cpu times: %w", err)
	}
	return dst, nil
}

// readMem reads the memory figures, which must include the total.
func (c *Collector) readMem(ctx context.Context) (*mem.VirtualMemoryStat, error) {
	vm, err := c.sys.memory(ctx)
	if err == nil && vm.Total == 0 {
		err = errNoMemTotal
	}
	if err != nil {
		return nil, fmt.Errorf("read memory: %w", err)
	}
	return vm, nil
}

// readNet computes into dst the network rate since the previous read, and
// reports whether it could: the first read after a failure only takes a new
// baseline.
func (c *Collector) readNet(ctx context.Context, dst *protocol.Net) (bool, error) {
	st, err := c.sys.netCounters(ctx)
	if err != nil {
		c.netAt = time.Time{}
		return false, err
	}
	now := c.opts.Now()
	c.netCur = ifCountersFrom(c.netCur, st)
	ok := !c.netAt.IsZero()
	if ok {
		*dst = netRate(c.netPrev, c.netCur, now.Sub(c.netAt).Seconds(), c.countIface)
	}
	c.netPrev, c.netCur, c.netAt = c.netCur, c.netPrev, now
	return ok, nil
}

// countIface reports whether an interface counts toward Net.
func (c *Collector) countIface(name string) bool {
	if len(c.opts.NetInterfaces) > 0 {
		return slices.Contains(c.opts.NetInterfaces, name)
	}
	return name != "lo"
}

// readThrottle reads the throttling state into dst.
func (c *Collector) readThrottle(dst *protocol.Throttle) error {
	b, err := c.throttle.file.read(&c.buf)
	if err != nil {
		return err
	}
	if !c.throttle.hwmon {
		raw, err := parseThrottled(b)
		if err != nil {
			return fmt.Errorf("parse %s: %w", c.throttle.file.path, err)
		}
		*dst = decodeThrottled(raw)
		return nil
	}
	uv, err := parseAlarm(b)
	if err != nil {
		return fmt.Errorf("parse %s: %w", c.throttle.file.path, err)
	}
	// rpi_volt knows only undervoltage. "Occurred" is kept since New, the
	// nearest to the firmware's "since boot" the agent can see; Raw is
	// synthesised from the two flags.
	c.uvOccurred = c.uvOccurred || uv
	var raw uint32
	if uv {
		raw |= thrUndervoltage
	}
	if c.uvOccurred {
		raw |= thrUndervoltage << thrOccurredShift
	}
	*dst = decodeThrottled(raw)
	return nil
}
