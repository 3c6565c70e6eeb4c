package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Size limits. MaxMessage bounds everything a node sends: a report of a
// 128-core machine is ~3 KiB, so 64 KiB leaves room without letting one
// message pin much memory on the scheduler. MaxFleetMessage bounds the
// scheduler's fleet table (~250 bytes a node; 16 MiB ≈ 60k nodes).
const (
	MaxMessage      = 64 << 10
	MaxFleetMessage = 16 << 20
)

// Errors a decoder wraps, so callers can count rejections by cause.
var (
	ErrTooLarge = errors.New("message too large")
	ErrSyntax   = errors.New("malformed JSON")
	ErrVersion  = errors.New("unsupported protocol version")
	ErrInvalid  = errors.New("invalid message")
)

// Limits on values inside messages; anything outside is a broken or hostile
// sender.
const (
	maxCores  = 4096
	maxLabels = 64
	maxSensor = 64
	maxString = 256
)

func decode(data []byte, limit int, v any) error {
	if len(data) > limit {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), limit)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return Syntax(err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the JSON value", ErrSyntax)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func checkVersion(v int) error {
	if v != Version {
		return fmt.Errorf("%w: v=%d, want %d", ErrVersion, v, Version)
	}
	return nil
}

// Validate checks the header as the decoders do; counted says whether the
// message is counted in the sequence (metrics, events: seq ≥ 1) or a status
// (seq ≥ 0). Decoders of other packages (pkg/task's events) use it.
func (h *Header) Validate(counted bool) error { return h.validate(counted) }

func (h *Header) validate(counted bool) error {
	if err := checkVersion(h.V); err != nil {
		return err
	}
	if err := ValidateID("node", h.Node); err != nil {
		return invalid("%v", err)
	}
	if h.Instance == "" || len(h.Instance) > maxString {
		return invalid("instance must be 1 to %d characters", maxString)
	}
	if counted && h.Seq == 0 {
		return invalid("seq is missing (sequence numbers start at 1)")
	}
	if err := CheckSeq("seq", h.Seq); err != nil {
		return err
	}
	if err := CheckSeq("from", h.From); err != nil {
		return err
	}
	if h.From > h.Seq && (counted || h.From-h.Seq > 1) { // a status may name the next seq
		return invalid("from %d is past seq %d", h.From, h.Seq)
	}
	if len(h.Store) > maxString || len(h.Boot) > maxString {
		return invalid("store and boot must be at most %d bytes", maxString)
	}
	if h.TS.IsZero() {
		return invalid("ts is missing")
	}
	if err := CheckTime("ts", h.TS); err != nil {
		return err
	}
	if h.UpMS > uint64(MaxUptime/time.Millisecond) {
		return invalid("up_ms %d is more than a century", h.UpMS)
	}
	return nil
}

func checkString(field, s string) error {
	if len(s) > maxString {
		return invalid("%s is longer than %d bytes", field, maxString)
	}
	return nil
}

func checkFinite(field string, fs ...float64) error {
	for _, f := range fs {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return invalid("%s is not a finite number", field)
		}
	}
	return nil
}

func checkPercent(field string, p float64) error {
	if err := checkFinite(field, p); err != nil {
		return err
	}
	// Rounding in the kernel's counters can push a busy core a hair past 100.
	if p < 0 || p > 100.5 {
		return invalid("%s = %g is not a percentage", field, p)
	}
	return nil
}

// DecodeNodeStatus parses and validates a node status message (birth, will or
// goodbye).
func DecodeNodeStatus(data []byte) (NodeStatus, error) {
	var m NodeStatus
	if err := decode(data, MaxMessage, &m); err != nil {
		return NodeStatus{}, err
	}
	if err := m.Validate(); err != nil {
		return NodeStatus{}, err
	}
	return m, nil
}

// Validate checks a NodeStatus as DecodeNodeStatus does.
func (m *NodeStatus) Validate() error {
	if err := m.Header.validate(false); err != nil {
		return err
	}
	if m.Conn == 0 && m.Reason != ReasonShutdown {
		return invalid("conn is missing (births and wills number their connection from 1)")
	}
	if err := checkString("reason", m.Reason); err != nil {
		return err
	}
	if err := checkFinite("heartbeat_s", m.HeartbeatS); err != nil {
		return err
	}
	if m.HeartbeatS < 0 || m.HeartbeatS > MaxHeartbeat.Seconds() {
		return invalid("heartbeat_s = %g is outside 0..%g", m.HeartbeatS, MaxHeartbeat.Seconds())
	}
	if r := m.Recovery; r != nil {
		if err := CheckTime("recovery.at", r.At); err != nil {
			return err
		}
		if err := checkString("recovery.reason", r.Reason); err != nil {
			return err
		}
		if err := checkString("recovery.moved_to", r.MovedTo); err != nil {
			return err
		}
	}
	if m.Health != nil && m.State != StateOnline {
		return invalid("health on an offline status (only births carry it)")
	}
	switch m.State {
	case StateOnline:
		if m.Facts == nil {
			return invalid("an online status (birth) must carry facts")
		}
		return m.Facts.validate()
	case StateOffline:
		return nil
	default:
		return invalid("state %q is neither %q nor %q", m.State, StateOnline, StateOffline)
	}
}

func (f *Facts) validate() error {
	for field, s := range map[string]string{
		"facts.hostname": f.Hostname, "facts.os": f.OS, "facts.arch": f.Arch, "facts.model": f.Model,
		"facts.platform": f.Platform, "facts.kernel": f.Kernel, "facts.agent_version": f.AgentVersion,
		"facts.boot_id": f.BootID,
	} {
		if err := checkString(field, s); err != nil {
			return err
		}
	}
	if f.Arch == "" {
		return invalid("facts.arch is missing")
	}
	if f.TaskSlots < 0 || f.TaskSlots > maxCores {
		return invalid("facts.task_slots %d: want 0 to %d", f.TaskSlots, maxCores)
	}
	if f.TaskProgressS < 0 || f.TaskProgressS > int(MaxTaskProgress/time.Second) {
		return invalid("facts.task_progress_s %d: want 0 to %d", f.TaskProgressS, int(MaxTaskProgress/time.Second))
	}
	if f.Cores < 1 || f.Cores > maxCores {
		return invalid("facts.cores = %d is outside 1..%d", f.Cores, maxCores)
	}
	if err := checkBytes("facts.mem_total", f.MemTotal); err != nil {
		return err
	}
	if err := checkOptTime("facts.boot_time", f.BootTime); err != nil {
		return err
	}
	if f.Tier != TierEdge && f.Tier != TierCloud {
		return invalid("facts.tier %q is neither %q nor %q", f.Tier, TierEdge, TierCloud)
	}
	if len(f.Labels) > maxLabels {
		return invalid("facts.labels has %d entries, limit %d", len(f.Labels), maxLabels)
	}
	for k, v := range f.Labels {
		if err := ValidateID("label key", k); err != nil {
			return invalid("%v", err)
		}
		if err := checkString("label "+k, v); err != nil {
			return err
		}
	}
	return nil
}

// DecodeMetrics parses and validates a resource report.
func DecodeMetrics(data []byte) (Metrics, error) {
	var m Metrics
	if err := decode(data, MaxMessage, &m); err != nil {
		return Metrics{}, err
	}
	if err := m.Validate(); err != nil {
		return Metrics{}, err
	}
	return m, nil
}

// Validate checks a Metrics as DecodeMetrics does.
func (m *Metrics) Validate() error {
	if err := m.Header.validate(true); err != nil {
		return err
	}
	if err := checkPercent("cpu.total", m.CPU.Total); err != nil {
		return err
	}
	if len(m.CPU.PerCore) > maxCores {
		return invalid("cpu.per_core has %d entries, limit %d", len(m.CPU.PerCore), maxCores)
	}
	for _, p := range m.CPU.PerCore {
		if err := checkPercent("cpu.per_core", p); err != nil {
			return err
		}
	}
	if m.Load != nil {
		for field, l := range map[string]float64{"load.m1": m.Load.M1, "load.m5": m.Load.M5, "load.m15": m.Load.M15} {
			if err := checkRange(field, l, 0, MaxLoad); err != nil {
				return err
			}
		}
	}
	if err := checkPercent("mem.percent", m.Mem.Percent); err != nil {
		return err
	}
	if err := checkBytes("mem.total", m.Mem.Total); err != nil {
		return err
	}
	if m.Mem.Used > m.Mem.Total || m.Mem.Available > m.Mem.Total {
		return invalid("mem.used or mem.available exceeds mem.total")
	}
	if m.Swap != nil {
		if err := m.Swap.validate("swap"); err != nil {
			return err
		}
	}
	if m.Disk != nil {
		if err := checkString("disk.path", m.Disk.Path); err != nil {
			return err
		}
		if err := m.Disk.Usage.validate("disk"); err != nil {
			return err
		}
	}
	if m.Net != nil {
		if err := checkRange("net.rx_bps", m.Net.RxBps, 0, MaxRate); err != nil {
			return err
		}
		if err := checkRange("net.tx_bps", m.Net.TxBps, 0, MaxRate); err != nil {
			return err
		}
	}
	if m.Outbox != nil {
		if err := m.Outbox.validate(); err != nil {
			return err
		}
	}
	if m.UptimeS > uint64(MaxUptime/time.Second) {
		return invalid("uptime_s %d is more than a century", m.UptimeS)
	}
	if len(m.TempC) > maxSensor {
		return invalid("temp_c has %d sensors, limit %d", len(m.TempC), maxSensor)
	}
	for name, c := range m.TempC {
		if err := checkString("temp_c sensor name", name); err != nil {
			return err
		}
		if err := checkTemp("temp_c."+name, c); err != nil {
			return err
		}
	}
	return nil
}

func (u *Usage) validate(field string) error {
	if err := checkBytes(field+".total", u.Total); err != nil {
		return err
	}
	if u.Used > u.Total {
		return invalid("%s.used exceeds %s.total", field, field)
	}
	return checkPercent(field+".percent", u.Percent)
}

// Now returns the current time truncated to milliseconds, the precision
// Tether puts on the wire.
func Now() time.Time { return time.Now().Truncate(time.Millisecond) }
