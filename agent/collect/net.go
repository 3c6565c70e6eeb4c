package collect

import (
	psnet "github.com/shirou/gopsutil/v4/net"
	"github.com/tether-edge/tether/pkg/protocol"
)

// ifCounters are one interface's cumulative byte counters.
type ifCounters struct {
	name   string
	rx, tx uint64
}

// ifCountersFrom copies into dst[:0] the byte counters of gopsutil's
// per-interface reading of /proc/net/dev.
func ifCountersFrom(dst []ifCounters, stats []psnet.IOCountersStat) []ifCounters {
	dst = dst[:0]
	for _, s := range stats {
		dst = append(dst, ifCounters{name: s.Name, rx: s.BytesRecv, tx: s.BytesSent})
	}
	return dst
}

// counterDelta is how much a cumulative counter grew. A counter that went
// backwards was reset (driver reload, interface re-created) or wrapped (32-bit
// counters of old drivers); either way it counts what it shows now, which
// never makes a rate negative and never invents traffic.
func counterDelta(prev, cur uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// netRate sums the receive and transmit rates, in bytes per second, of the
// interfaces in cur for which count is true, over the seconds between the
// two snapshots. An interface missing from prev has no baseline and adds
// nothing until the next snapshot.
func netRate(prev, cur []ifCounters, seconds float64, count func(name string) bool) protocol.Net {
	if seconds <= 0 {
		return protocol.Net{}
	}
	var rx, tx uint64
	for i, c := range cur {
		if !count(c.name) {
			continue
		}
		var p *ifCounters
		if i < len(prev) && prev[i].name == c.name { // the usual case
			p = &prev[i]
		} else {
			for j := range prev {
				if prev[j].name == c.name {
					p = &prev[j]
					break
				}
			}
		}
		if p == nil {
			continue
		}
		rx += counterDelta(p.rx, c.rx)
		tx += counterDelta(p.tx, c.tx)
	}
	return protocol.Net{
		RxBps: round(float64(rx)/seconds, 0),
		TxBps: round(float64(tx)/seconds, 0),
	}
}
