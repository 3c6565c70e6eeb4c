package collect

import (
	"bytes"
	"math"
)

// Helpers for the parsers: they walk a []byte without allocating.

// nextLine splits b at its first newline.
func nextLine(b []byte) (line, rest []byte) {
	line, rest, _ = bytes.Cut(b, []byte{'\n'})
	return line, rest
}

// nextField returns the first run of non-blank bytes of b and what follows.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && isBlank(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !isBlank(b[j]) {
		j++
	}
	return b[i:j], b[j:]
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// parseUint parses a decimal unsigned integer that fills b.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// cutColon splits a "key: value" line at its first colon.
func cutColon(line []byte) (key, rest []byte, ok bool) {
	for i, c := range line {
		if c == ':' {
			return line[:i], line[i+1:], true
		}
	}
	return nil, nil, false
}

// trimValue trims the NULs that device-tree strings end with, and blanks.
func trimValue(b []byte) []byte {
	return bytes.Trim(b, "\x00 \t\r\n")
}

// round rounds x to the given number of decimals; reports do not need more
// precision than the kernel's counters give, and shorter numbers make
// smaller messages.
func round(x float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(x*p) / p
}

// clampPercent keeps a computed percentage within 0..100.
func clampPercent(p float64) float64 {
	return min(max(p, 0), 100)
}
