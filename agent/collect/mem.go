package collect

import (
	"errors"

	"github.com/tether-edge/tether/pkg/protocol"
)

// meminfo is what Tether takes from /proc/meminfo, in bytes.
type meminfo struct {
	total, free, available, buffers, cached uint64
	hasAvailable                            bool // MemAvailable exists since Linux 3.14
	swapTotal, swapFree                     uint64
}

// parseMeminfo parses /proc/meminfo:
//
//	MemTotal:        3882296 kB
//	MemAvailable:    3401924 kB
func parseMeminfo(data []byte) (meminfo, error) {
	var m meminfo
	hasTotal := false
	for len(data) > 0 {
		var line []byte
		line, data = nextLine(data)
		key, rest, ok := cutColon(line)
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) { // no allocation: the compiler compares in place
		case "MemTotal":
			dst, hasTotal = &m.total, true
		case "MemFree":
			dst = &m.free
		case "MemAvailable":
			dst, m.hasAvailable = &m.available, true
		case "Buffers":
			dst = &m.buffers
		case "Cached":
			dst = &m.cached
		case "SwapTotal":
			dst = &m.swapTotal
		case "SwapFree":
			dst = &m.swapFree
		default:
			continue
		}
		num, rest := nextField(rest)
		unit, _ := nextField(rest)
		v, ok := parseUint(num)
		if !ok {
			return meminfo{}, errors.New("malformed " + string(key) + " line")
		}
		if string(unit) == "kB" {
			v *= 1024
		}
		*dst = v
	}
	if !hasTotal || m.total == 0 {
		return meminfo{}, errors.New("no MemTotal")
	}
	return m, nil
}

func cutColon(line []byte) (key, rest []byte, ok bool) {
	for i, c := range line {
		if c == ':' {
			return line[:i], line[i+1:], true
		}
	}
	return nil, nil, false
}

// mem is physical memory as the scheduler sees it: Available is what a new
// task can get without swapping (the kernel's estimate, MemAvailable), and
// Used is everything else, so page cache does not count as used.
func (m meminfo) mem() protocol.Mem {
	avail := m.available
	if !m.hasAvailable { // Linux < 3.14: the usual approximation
		avail = m.free + m.buffers + m.cached
	}
	avail = min(avail, m.total)
	used := m.total - avail
	return protocol.Mem{
		Total:     m.total,
		Available: avail,
		Used:      used,
		Percent:   round(clampPercent(float64(used)/float64(m.total)*100), 2),
	}
}

// swap is the swap space in use; ok is false when the node has none.
func (m meminfo) swap() (u protocol.Usage, ok bool) {
	if m.swapTotal == 0 {
		return protocol.Usage{}, false
	}
	used := m.swapTotal - min(m.swapFree, m.swapTotal)
	return protocol.Usage{
		Total:   m.swapTotal,
		Used:    used,
		Percent: round(clampPercent(float64(used)/float64(m.swapTotal)*100), 2),
	}, true
}
