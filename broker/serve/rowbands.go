package serve

import (
	"math"

	"github.com/tether-edge/tether/pkg/protocol"
)

// The bands a row's measurements must move by, from the row last
// published, to go out at the row refresh rather than the idle one. They
// are the agent's default change thresholds (agent/report
// DefaultThresholds), so a row moves when the node's own filter would
// have reported a change; the link's, a quarter of its value with a
// floor, are wider than a link estimate's usual drift between samples.
const (
	bandCPU       = 10   // points
	bandMem       = 5    // points
	bandTempC     = 2    // °C
	bandSkewMS    = 1000 // a clock skew under a second changes nothing shown
	bandLinkRel   = 0.25
	bandRTTMS     = 5   // floor of the round trip's band, ms
	bandMbps      = 0.5 // floor of the throughputs' band, Mbit/s
	bandPendingFl = 100 // floor of the outbox backlog's band, records
)

// moved reports whether b differs from a, the row last published, by
// more than what moves with every report: a measurement past its band, a
// measurement that appeared or went, a change in the counts of messages
// missing or duplicated, an outbox that started or stopped holding a
// backlog, grew or shrank by half, or dropped, thinned or lost records.
// Both rows have the same state (stateOf).
func moved(a, b protocol.FleetNode) bool {
	if pastBand(a.CPU, b.CPU, bandCPU) || pastBand(a.MemPct, b.MemPct, bandMem) || pastBand(a.TempC, b.TempC, bandTempC) {
		return true
	}
	if a.Missing != b.Missing || a.Dups != b.Dups || absDiff(float64(a.ClockSkewMS), float64(b.ClockSkewMS)) >= bandSkewMS {
		return true
	}
	return outboxMoved(a.Outbox, b.Outbox) || linkMoved(a.Link, b.Link)
}

// pastBand: one of x, y is nil and the other not, or they differ by band.
func pastBand(x, y *float64, band float64) bool {
	if x == nil || y == nil {
		return (x == nil) != (y == nil)
	}
	return absDiff(*x, *y) >= band
}

func outboxMoved(a, b *protocol.Outbox) bool {
	if a == nil || b == nil {
		return (a == nil) != (b == nil)
	}
	if a.Dropped != b.Dropped || a.Downsampled != b.Downsampled || a.Corrupt != b.Corrupt || (a.Pending == 0) != (b.Pending == 0) {
		return true
	}
	return relMoved(float64(a.Pending), float64(b.Pending), 0.5, bandPendingFl)
}

func linkMoved(a, b *protocol.LinkEstimate) bool {
	if a == nil || b == nil {
		return (a == nil) != (b == nil)
	}
	return relMoved(a.RTTMS, b.RTTMS, bandLinkRel, bandRTTMS) ||
		relMoved(a.Mbps, b.Mbps, bandLinkRel, bandMbps) ||
		relMoved(a.UpMbps, b.UpMbps, bandLinkRel, bandMbps) ||
		(a.RTTSamples == 0) != (b.RTTSamples == 0) || (a.MbpsSamples == 0) != (b.MbpsSamples == 0) ||
		(a.UpMbpsSamples == 0) != (b.UpMbpsSamples == 0)
}

// relMoved: last and cur differ by at least rel of last and at least floor.
func relMoved(last, cur, rel, floor float64) bool {
	d := absDiff(last, cur)
	return d > 0 && d >= floor && d >= rel*math.Abs(last)
}

func absDiff(x, y float64) float64 { return math.Abs(x - y) }
