package collect

import (
	"bytes"
	"errors"

	"github.com/tether-edge/tether/pkg/protocol"
)

// ifCounters are one interface's cumulative byte counters.
type ifCounters struct {
	name   string
	rx, tx uint64
}

// parseNetDev parses /proc/net/dev into dst[:0]:
//
//	Inter-|   Receive                            ...|  Transmit
//	 face |bytes    packets errs drop fifo frame ...|bytes    packets ...
//	  eth0: 1927350412 2134567  0  12  0  0  0  4021 304718274 1023456 ...
//
// Interface names are reused from what dst held before when they match, so
// that parsing the same interfaces again allocates nothing.
func parseNetDev(data []byte, dst []ifCounters) ([]ifCounters, error) {
	old := dst[:cap(dst)]
	dst = dst[:0]
	// Two header lines.
	_, data = nextLine(data)
	_, data = nextLine(data)
	for len(data) > 0 {
		var line []byte
		line, data = nextLine(data)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		// A name cannot hold ':' (dev_valid_name), and old kernels print no
		// blank between it and a large first counter.
		name, rest, ok := cutColon(line)
		name = bytes.TrimSpace(name)
		if !ok || len(name) == 0 {
			return dst, errors.New("malformed net/dev line")
		}
		var c ifCounters
		for i := 0; i < 9; i++ { // receive bytes is field 0, transmit bytes field 8
			var f []byte
			f, rest = nextField(rest)
			v, ok := parseUint(f)
			if !ok {
				return dst, errors.New("malformed net/dev counters")
			}
			switch i {
			case 0:
				c.rx = v
			case 8:
				c.tx = v
			}
		}
		if i := len(dst); i < len(old) && old[i].name == string(name) {
			c.name = old[i].name
		} else {
			c.name = string(name)
		}
		dst = append(dst, c)
	}
	return dst, nil
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
