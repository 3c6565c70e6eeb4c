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
		return fmt.Errorf("%w: %v", ErrSyntax, err)
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
	if h.From > h.Seq && (counted || h.From-h.Seq > 1) { // a status may name the next seq
		return invalid("from %d is past seq %d", h.From, h.Seq)
	}
	if len(h.Store) > maxString || len(h.Boot) > maxString {
		return invalid("store and boot must be at most %d bytes", maxString)
	}
	if h.TS.IsZero() {
		return invalid("ts is missing")
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
	if m.HeartbeatS < 0 {
		return invalid("heartbeat_s is negative")
	}
	if r := m.Recovery; r != nil {
		if err := checkString("recovery.reason", r.Reason); err != nil {
			return err
		}
		if err := checkString("recovery.moved_to", r.MovedTo); err != nil {
			return err
		}
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
	if f.Cores < 1 || f.Cores > maxCores {
		return invalid("facts.cores = %d is outside 1..%d", f.Cores, maxCores)
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
		if err := checkFinite("load", m.Load.M1, m.Load.M5, m.Load.M15); err != nil {
			return err
		}
		if m.Load.M1 < 0 || m.Load.M5 < 0 || m.Load.M15 < 0 {
			return invalid("load is negative")
		}
	}
	if err := checkPercent("mem.percent", m.Mem.Percent); err != nil {
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
		if err := checkFinite("net", m.Net.RxBps, m.Net.TxBps); err != nil {
			return err
		}
		if m.Net.RxBps < 0 || m.Net.TxBps < 0 {
			return invalid("net rate is negative")
		}
	}
	if m.Outbox != nil && (m.Outbox.Pending < 0 || m.Outbox.Bytes < 0) {
		return invalid("outbox counts are negative")
	}
	if len(m.TempC) > maxSensor {
		return invalid("temp_c has %d sensors, limit %d", len(m.TempC), maxSensor)
	}
	for name, c := range m.TempC {
		if err := checkString("temp_c sensor name", name); err != nil {
			return err
		}
		if err := checkFinite("temp_c."+name, c); err != nil {
			return err
		}
		if c < -100 || c > 200 {
			return invalid("temp_c.%s = %g °C is not a plausible temperature", name, c)
		}
	}
	return nil
}

func (u *Usage) validate(field string) error {
	if u.Used > u.Total {
		return invalid("%s.used exceeds %s.total", field, field)
	}
	return checkPercent(field+".percent", u.Percent)
}

// DecodeSchedulerStatus parses and validates the scheduler's status.
func DecodeSchedulerStatus(data []byte) (SchedulerStatus, error) {
	var m SchedulerStatus
	if err := decode(data, MaxMessage, &m); err != nil {
		return SchedulerStatus{}, err
	}
	if err := checkVersion(m.V); err != nil {
		return SchedulerStatus{}, err
	}
	if m.State != StateOnline && m.State != StateOffline {
		return SchedulerStatus{}, invalid("state %q is neither %q nor %q", m.State, StateOnline, StateOffline)
	}
	if m.Instance == "" {
		return SchedulerStatus{}, invalid("instance is missing")
	}
	return m, nil
}

// DecodeFleetSummary parses and validates the fleet summary.
func DecodeFleetSummary(data []byte) (FleetSummary, error) {
	var m FleetSummary
	if err := decode(data, MaxMessage, &m); err != nil {
		return FleetSummary{}, err
	}
	if err := checkVersion(m.V); err != nil {
		return FleetSummary{}, err
	}
	if m.Nodes < 0 || m.Online < 0 || m.Offline < 0 || m.Online+m.Offline != m.Nodes {
		return FleetSummary{}, invalid("counts do not add up: %d online + %d offline != %d nodes", m.Online, m.Offline, m.Nodes)
	}
	return m, nil
}

// DecodeFleetNodes parses and validates the fleet table.
func DecodeFleetNodes(data []byte) (FleetNodes, error) {
	var m FleetNodes
	if err := decode(data, MaxFleetMessage, &m); err != nil {
		return FleetNodes{}, err
	}
	if err := checkVersion(m.V); err != nil {
		return FleetNodes{}, err
	}
	for i := range m.Nodes {
		if err := ValidateID("node", m.Nodes[i].Node); err != nil {
			return FleetNodes{}, invalid("row %d: %v", i, err)
		}
	}
	return m, nil
}

// DecodeDuplicateNotice parses and validates the duplicate command's payload.
func DecodeDuplicateNotice(data []byte) (DuplicateNotice, error) {
	var m DuplicateNotice
	if err := decode(data, MaxMessage, &m); err != nil {
		return DuplicateNotice{}, err
	}
	if err := checkVersion(m.V); err != nil {
		return DuplicateNotice{}, err
	}
	if err := ValidateID("node", m.Node); err != nil {
		return DuplicateNotice{}, invalid("%v", err)
	}
	if len(m.Instances) < 2 || len(m.Instances) > 64 {
		return DuplicateNotice{}, invalid("instances: %d listed, want 2 to 64", len(m.Instances))
	}
	for _, in := range m.Instances {
		if in == "" || len(in) > maxString {
			return DuplicateNotice{}, invalid("instances: an entry is empty or longer than %d bytes", maxString)
		}
	}
	return m, nil
}

// Now returns the current time truncated to milliseconds, the precision
// Tether puts on the wire.
func Now() time.Time { return time.Now().Truncate(time.Millisecond) }
