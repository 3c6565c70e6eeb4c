package protocol

import (
	"fmt"
	"time"
)

// Decoders of what the scheduler publishes: its status, the fleet summary
// and table, the duplicate command. Agents and `tether-broker nodes` read
// them; anyone who can publish there could send anything.

// DecodeSchedulerStatus parses and validates the scheduler's status.
func DecodeSchedulerStatus(data []byte) (SchedulerStatus, error) {
	var m SchedulerStatus
	if err := decode(data, MaxMessage, &m); err != nil {
		return SchedulerStatus{}, err
	}
	if err := m.Validate(); err != nil {
		return SchedulerStatus{}, err
	}
	return m, nil
}

// Validate checks a SchedulerStatus as DecodeSchedulerStatus does.
func (m *SchedulerStatus) Validate() error {
	if err := checkVersion(m.V); err != nil {
		return err
	}
	if m.State != StateOnline && m.State != StateOffline {
		return invalid("state %q is neither %q nor %q", m.State, StateOnline, StateOffline)
	}
	if m.Instance == "" {
		return invalid("instance is missing")
	}
	for field, s := range map[string]string{"instance": m.Instance, "reason": m.Reason, "version": m.Version} {
		if err := checkString(field, s); err != nil {
			return err
		}
	}
	if err := CheckSeq("epoch", m.Epoch); err != nil {
		return err
	}
	return CheckTime("ts", m.TS)
}

// DecodeFleetSummary parses and validates the fleet summary.
func DecodeFleetSummary(data []byte) (FleetSummary, error) {
	var m FleetSummary
	if err := decode(data, MaxMessage, &m); err != nil {
		return FleetSummary{}, err
	}
	if err := m.Validate(); err != nil {
		return FleetSummary{}, err
	}
	return m, nil
}

// Validate checks a FleetSummary as DecodeFleetSummary does.
func (m *FleetSummary) Validate() error {
	if err := checkVersion(m.V); err != nil {
		return err
	}
	if err := CheckTime("ts", m.TS); err != nil {
		return err
	}
	if m.Nodes < 0 || m.Online < 0 || m.Offline < 0 || m.Online+m.Offline != m.Nodes {
		return invalid("counts do not add up: %d online + %d offline != %d nodes", m.Online, m.Offline, m.Nodes)
	}
	if m.Nodes > MaxNodes {
		return invalid("nodes %d is above %d", m.Nodes, MaxNodes)
	}
	if m.Throttled < 0 || m.Throttled > m.Online {
		return invalid("throttled %d is outside 0..%d online", m.Throttled, m.Online)
	}
	if len(m.Duplicates) > m.Nodes {
		return invalid("duplicates lists %d nodes of %d", len(m.Duplicates), m.Nodes)
	}
	for _, id := range m.Duplicates {
		if err := ValidateID("duplicates: node", id); err != nil {
			return invalid("%v", err)
		}
	}
	if m.WAN != nil {
		return m.WAN.validate()
	}
	return nil
}

// DecodeFleetNodes parses and validates the fleet table.
func DecodeFleetNodes(data []byte) (FleetNodes, error) {
	var m FleetNodes
	if err := decode(data, MaxFleetMessage, &m); err != nil {
		return FleetNodes{}, err
	}
	if err := m.Validate(); err != nil {
		return FleetNodes{}, err
	}
	return m, nil
}

// Validate checks a FleetNodes as DecodeFleetNodes does. The scheduler
// checks each row (FleetNode.Validate) before it puts it in the table, so
// one node's bad values cannot keep the table from being published.
func (m *FleetNodes) Validate() error {
	if err := checkVersion(m.V); err != nil {
		return err
	}
	if err := CheckTime("ts", m.TS); err != nil {
		return err
	}
	if len(m.Nodes) > MaxNodes {
		return invalid("%d rows, limit %d", len(m.Nodes), MaxNodes)
	}
	for i := range m.Nodes {
		if err := m.Nodes[i].Validate(); err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
	}
	return nil
}

// Validate checks one row of the fleet table.
func (n *FleetNode) Validate() error {
	if err := ValidateID("node", n.Node); err != nil {
		return invalid("%v", err)
	}
	for field, s := range map[string]string{"reason": n.Reason, "arch": n.Arch, "model": n.Model, "tier": n.Tier, "version": n.Version} {
		if err := checkString(field, s); err != nil {
			return err
		}
	}
	for field, p := range map[string]*float64{"cpu": n.CPU, "mem": n.MemPct} {
		if p != nil {
			if err := checkPercent(field, *p); err != nil {
				return err
			}
		}
	}
	if n.TempC != nil {
		if err := checkTemp("temp_c", *n.TempC); err != nil {
			return err
		}
	}
	for field, t := range map[string]time.Time{"last_seen": n.LastSeen, "measured": n.Measured, "store_recovered": n.StoreRecovered} {
		if err := checkOptTime(field, t); err != nil {
			return err
		}
	}
	if skew := MaxTime.Sub(MinTime).Milliseconds(); n.ClockSkewMS < -skew || n.ClockSkewMS > skew {
		return invalid("clock_skew_ms %d is outside ±%d", n.ClockSkewMS, skew)
	}
	for field, c := range map[string]uint64{"seq": n.Seq, "gaps": n.Gaps, "missing": n.Missing, "dups": n.Dups} {
		if err := CheckSeq(field, c); err != nil {
			return err
		}
	}
	if n.Link != nil {
		if err := n.Link.validate(); err != nil {
			return err
		}
	}
	if n.Outbox != nil {
		return n.Outbox.validate()
	}
	return nil
}

func (w *WANLink) validate() error {
	if !(w.RTTMS > 0) || w.RTTMS > MaxLinkRTTMS {
		return invalid("wan.rtt_ms %v is outside (0, %d]", w.RTTMS, MaxLinkRTTMS)
	}
	for field, v := range map[string]float64{"wan.up_mbps": w.UpMbps, "wan.down_mbps": w.DownMbps} {
		if !(v > 0) || v > MaxLinkMbps {
			return invalid("%s %v is outside (0, %g]", field, v, float64(MaxLinkMbps))
		}
	}
	if w.Measured != nil {
		return w.Measured.validate()
	}
	return nil
}

func (l *LinkEstimate) validate() error {
	if err := checkRange("link.rtt_ms", l.RTTMS, 0, MaxLinkRTTMS); err != nil {
		return err
	}
	if err := checkRange("link.rtt_dev_ms", l.RTTDevMS, 0, MaxLinkRTTMS); err != nil {
		return err
	}
	if err := checkRange("link.mbps", l.Mbps, 0, MaxLinkMbps); err != nil {
		return err
	}
	if err := checkRange("link.mbps_dev", l.MbpsDev, 0, MaxLinkMbps); err != nil {
		return err
	}
	if err := checkRange("link.up_mbps", l.UpMbps, 0, MaxLinkMbps); err != nil {
		return err
	}
	if err := checkRange("link.up_mbps_dev", l.UpMbpsDev, 0, MaxLinkMbps); err != nil {
		return err
	}
	if err := CheckSeq("link.rtt_samples", l.RTTSamples); err != nil {
		return err
	}
	if err := CheckSeq("link.up_mbps_samples", l.UpMbpsSamples); err != nil {
		return err
	}
	return CheckSeq("link.mbps_samples", l.MbpsSamples)
}

func (o *Outbox) validate() error {
	if o.Pending < 0 || int64(o.Pending) > MaxSeq {
		return invalid("outbox.pending %d is outside 0..%d", o.Pending, int64(MaxSeq))
	}
	if o.Bytes < 0 || o.Bytes > MaxBytes {
		return invalid("outbox.bytes %d is outside 0..%d", o.Bytes, int64(MaxBytes))
	}
	for field, c := range map[string]uint64{"outbox.dropped": o.Dropped, "outbox.downsampled": o.Downsampled, "outbox.corrupt": o.Corrupt} {
		if err := CheckSeq(field, c); err != nil {
			return err
		}
	}
	return nil
}

// DecodeDuplicateNotice parses and validates the duplicate command's payload.
func DecodeDuplicateNotice(data []byte) (DuplicateNotice, error) {
	var m DuplicateNotice
	if err := decode(data, MaxMessage, &m); err != nil {
		return DuplicateNotice{}, err
	}
	if err := m.Validate(); err != nil {
		return DuplicateNotice{}, err
	}
	return m, nil
}

// MaxDuplicates bounds the instances a duplicate notice lists.
const MaxDuplicates = 64

// Validate checks a DuplicateNotice as DecodeDuplicateNotice does.
func (m *DuplicateNotice) Validate() error {
	if err := checkVersion(m.V); err != nil {
		return err
	}
	if err := ValidateID("node", m.Node); err != nil {
		return invalid("%v", err)
	}
	if len(m.Instances) < 2 || len(m.Instances) > MaxDuplicates {
		return invalid("instances: %d listed, want 2 to %d", len(m.Instances), MaxDuplicates)
	}
	for _, in := range m.Instances {
		if in == "" || len(in) > maxString {
			return invalid("instances: an entry is empty or longer than %d bytes", maxString)
		}
	}
	return CheckTime("ts", m.TS)
}
