package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

// ErrClosed is returned by a Collector's methods after Close.
var ErrClosed = errors.New("collector closed")

// Collector reads the node's Facts and Samples. It is safe for concurrent
// use, though the agent samples from one goroutine.
type Collector struct {
	opts   Options // with defaults
	log    *slog.Logger
	statfs func(path string) (fsStat, error) // replaced by tests

	mu     sync.Mutex // guards everything below
	closed bool
	buf    []byte // read buffer, shared by every file

	stat, meminfo, loadavg, uptime, netdev kfile
	sensors                                []sensor
	throttle                               *throttleSource // nil: not a Raspberry Pi

	// The previous snapshots that rates are computed against; cur* are
	// their spare buffers, swapped in turn.
	cpuPrev, cpuCur procStat
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
// /proc/stat or /proc/meminfo cannot be read.
func New(opts Options) (*Collector, error) {
	o := opts.withDefaults()
	c := &Collector{
		opts:     o,
		log:      o.Logger.With("component", "collect"),
		statfs:   statfs,
		stat:     kfile{path: filepath.Join(o.ProcRoot, "stat")},
		meminfo:  kfile{path: filepath.Join(o.ProcRoot, "meminfo")},
		loadavg:  kfile{path: filepath.Join(o.ProcRoot, "loadavg")},
		uptime:   kfile{path: filepath.Join(o.ProcRoot, "uptime")},
		netdev:   kfile{path: filepath.Join(o.ProcRoot, "net/dev")},
		sensors:  discoverSensors(o.SysRoot),
		throttle: discoverThrottle(o.SysRoot),
	}
	if err := c.readCPU(&c.cpuPrev); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.readMem(); err != nil {
		c.Close()
		return nil, err
	}
	if b, err := c.netdev.read(&c.buf); err == nil {
		if c.netPrev, err = parseNetDev(b, nil); err == nil {
			c.netAt = o.Now()
		}
	}
	keys := make([]string, len(c.sensors))
	for i, s := range c.sensors {
		keys[i] = s.key
	}
	c.log.Debug("sources found", "sensors", keys, "throttle", c.throttle != nil)
	return c, nil
}

// Close releases the files the Collector keeps open.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, k := range []*kfile{&c.stat, &c.meminfo, &c.loadavg, &c.uptime, &c.netdev} {
		k.close()
	}
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
		f, err := c.readFacts()
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
// It fails only when /proc/stat or /proc/meminfo cannot be read; another
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

	var s Sample
	if err := c.readCPU(&c.cpuCur); err != nil {
		return Sample{}, err
	}
	prev, cur := &c.cpuPrev, &c.cpuCur
	s.CPU.Total = cpuPercent(prev.total, cur.total)
	s.CPU.PerCore = perCorePercent(make([]float64, 0, len(cur.cores)), prev.cores, cur.cores)
	c.cpuPrev, c.cpuCur = c.cpuCur, c.cpuPrev

	m, err := c.readMem()
	if err != nil {
		return Sample{}, err
	}
	s.Mem = m.mem()

	opt := new(optional)
	if u, ok := m.swap(); ok {
		opt.swap = u
		s.Swap = &opt.swap
	}

	b, err := c.loadavg.read(&c.buf)
	if err == nil {
		opt.load, err = parseLoadavg(b)
	}
	if c.report(srcLoad, err) {
		s.Load = &opt.load
	}

	b, err = c.uptime.read(&c.buf)
	if err == nil {
		s.UptimeS, err = parseUptime(b)
	}
	c.report(srcUptime, err)

	fs, err := c.statfs(c.opts.DataDir)
	if c.report(srcDisk, err) {
		opt.disk = protocol.Disk{Path: c.opts.DataDir, Usage: usage(fs)}
		s.Disk = &opt.disk
	}

	ok, err := c.readNet(&opt.net)
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

func (c *Collector) readCPU(dst *procStat) error {
	b, err := c.stat.read(&c.buf)
	if err != nil {
		return fmt.Errorf("read cpu times: %w", err)
	}
	if err := parseStat(b, dst); err != nil {
		return fmt.Errorf("parse %s: %w", c.stat.path, err)
	}
	return nil
}

func (c *Collector) readMem() (meminfo, error) {
	b, err := c.meminfo.read(&c.buf)
	if err != nil {
		return meminfo{}, fmt.Errorf("read memory: %w", err)
	}
	m, err := parseMeminfo(b)
	if err != nil {
		return meminfo{}, fmt.Errorf("parse %s: %w", c.meminfo.path, err)
	}
	return m, nil
}

// readNet computes into dst the network rate since the previous read, and
// reports whether it could: the first read after a failure only takes a new
// baseline.
func (c *Collector) readNet(dst *protocol.Net) (bool, error) {
	b, err := c.netdev.read(&c.buf)
	if err != nil {
		c.netAt = time.Time{}
		return false, err
	}
	now := c.opts.Now()
	c.netCur, err = parseNetDev(b, c.netCur)
	if err != nil {
		c.netAt = time.Time{}
		return false, fmt.Errorf("parse %s: %w", c.netdev.path, err)
	}
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
