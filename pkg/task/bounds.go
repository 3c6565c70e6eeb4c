package task

import (
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

// Bounds on the numbers in task messages besides a spec (validate.go
// bounds those). docs/protocol.md, "Limits and errors", lists them.
const (
	// maxCount bounds progress, totals and work units: 2⁵³−1, exact in
	// every JSON reader.
	maxCount = protocol.MaxSeq
	// maxMS bounds a result's cpu_ms and duration_ms (and so fetch_ms): a
	// century.
	maxMS = int64(protocol.MaxUptime / time.Millisecond)
	// maxRSSKB bounds a result's peak RSS: protocol.MaxBytes in KiB.
	maxRSSKB = protocol.MaxBytes >> 10
)

// time checks a time that is set against the protocol's window (1970 to
// 2199): one outside could not be written back in UTC. A missing time is
// the caller's to refuse.
func (p *problems) time(field string, t time.Time) {
	if t.IsZero() {
		return
	}
	if t.Before(protocol.MinTime) || !t.Before(protocol.MaxTime) {
		p.add(field, "is outside the years %d to %d", protocol.MinTime.Year(), protocol.MaxTime.Year()-1)
	}
}

// count checks a count of work units or a progress against maxCount.
func (p *problems) count(field string, n int64) {
	if n < 0 || n > maxCount {
		p.add(field, "is %d: want 0 to %d", n, int64(maxCount))
	}
}

// epoch checks a leadership term against protocol.MaxSeq: exact in every
// JSON reader, and beyond what a consensus log ever reaches.
func (p *problems) epoch(field string, n uint64) {
	if n > protocol.MaxSeq {
		p.add(field, "is %d: want 0 to %d", n, uint64(protocol.MaxSeq))
	}
}
