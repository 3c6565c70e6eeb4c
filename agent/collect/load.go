package collect

import (
	"errors"

	"github.com/tether-edge/tether/pkg/protocol"
)

// parseLoadavg parses /proc/loadavg: "0.52 0.58 0.59 2/389 12345".
func parseLoadavg(data []byte) (protocol.Load, error) {
	var v [3]float64
	for i := range v {
		var f []byte
		f, data = nextField(data)
		x, ok := parseFloat(f)
		if !ok || x < 0 {
			return protocol.Load{}, errors.New("malformed loadavg")
		}
		v[i] = x
	}
	return protocol.Load{M1: v[0], M5: v[1], M15: v[2]}, nil
}

// parseUptime parses /proc/uptime, "354918.47 1392744.89", into whole
// seconds since boot.
func parseUptime(data []byte) (uint64, error) {
	f, _ := nextField(data)
	whole := f
	for i, c := range f {
		if c == '.' {
			whole = f[:i]
			break
		}
	}
	s, ok := parseUint(whole)
	if !ok {
		return 0, errors.New("malformed uptime")
	}
	return s, nil
}
