package fleet

import (
	"sort"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

// maxSummaryDuplicates bounds the node ids the summary lists as
// duplicates (the first by id), so it stays a small message whatever
// happens; each node's row says whether it is one.
const maxSummaryDuplicates = 100

// Summary counts the fleet.
func (f *Fleet) Summary() protocol.FleetSummary {
	wall, now := f.opts.Now(), f.clock()
	s := protocol.FleetSummary{V: protocol.Version, TS: wall.UTC().Truncate(time.Millisecond), Rejected: f.rejected.Load(), BadRows: f.badRows.Load()}
	f.each(func(_ *shard, nn *Node) {
		s.Nodes++
		n := f.snapshot(nn, now)
		if n.Online {
			s.Online++
			if throttledNow(n.Metrics) {
				s.Throttled++
			}
		}
		if n.Duplicate {
			s.Duplicates = append(s.Duplicates, n.ID)
		}
	})
	s.Offline = s.Nodes - s.Online
	if w := f.wan.Load(); w != nil {
		c := *w
		s.WAN = &c
	}
	sort.Strings(s.Duplicates)
	if len(s.Duplicates) > maxSummaryDuplicates {
		s.Duplicates = s.Duplicates[:maxSummaryDuplicates]
	}
	return s
}

// Table returns one row per node, sorted by id.
func (f *Fleet) Table() protocol.FleetNodes {
	wall, now := f.opts.Now(), f.clock()
	t := protocol.FleetNodes{V: protocol.Version, TS: wall.UTC().Truncate(time.Millisecond)}
	f.each(func(_ *shard, nn *Node) {
		t.Nodes = append(t.Nodes, Row(f.snapshot(nn, now)))
	})
	sort.Slice(t.Nodes, func(i, j int) bool { return t.Nodes[i].Node < t.Nodes[j].Node })
	return t
}

// Row is a node's row in the fleet view.
func Row(n Node) protocol.FleetNode {
	row := protocol.FleetNode{Node: n.ID, Online: n.Online, Reason: n.Reason, LastSeen: n.LastSeen.UTC().Truncate(time.Millisecond),
		Duplicate: n.Duplicate, DiskFull: n.DiskFull, Seq: n.LastSeq, Gaps: n.Gaps, Missing: n.Missing, Dups: n.Dups, ClockSkewMS: n.ClockSkew.Milliseconds()}
	if !n.StoreRecovered.IsZero() {
		row.StoreRecovered = n.StoreRecovered.UTC().Truncate(time.Millisecond)
	}
	if !n.Measured.IsZero() {
		row.Measured = n.Measured.UTC().Truncate(time.Millisecond)
	}
	if n.Link != nil {
		l := *n.Link
		row.Link = &l
	}
	if n.Facts != nil {
		row.Arch, row.Model, row.Tier, row.Version = n.Facts.Arch, n.Facts.Model, n.Facts.Tier, n.Facts.AgentVersion
	}
	if m := n.Metrics; m != nil {
		cpu, mem := m.CPU.Total, m.Mem.Percent
		row.CPU, row.MemPct = &cpu, &mem
		row.Outbox = m.Outbox
		for _, c := range m.TempC {
			if row.TempC == nil || c > *row.TempC {
				c := c
				row.TempC = &c
			}
		}
		row.Throttled = throttledNow(m)
	}
	return row
}

func throttledNow(m *protocol.Metrics) bool {
	if m == nil || m.Throttle == nil {
		return false
	}
	th := m.Throttle
	return th.Undervoltage || th.Throttled || th.FreqCapped || th.SoftTempLimit
}
