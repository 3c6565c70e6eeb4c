package ackline

import (
	"strings"
	"testing"
)

// TestLines: a line Format wrote is read back; one garbled on the way
// (another seq, a dropped digit, no check) is refused.
func TestLines(t *testing.T) {
	line := Format(12345)
	if seq, ok := Parse(line); !ok || seq != 12345 {
		t.Fatalf("%q read as %d, %v", line, seq, ok)
	}
	for _, bad := range []string{strings.Replace(line, "12345", "12344", 1), strings.Replace(line, "12345", "1245", 1),
		"ACK 12345\n", "ACK 12345 zz\n", "PUBACK 12345 " + line[len("ACK 12345 "):]} {
		if seq, ok := Parse(bad); ok {
			t.Errorf("garbled %q taken as an acknowledgement of %d", bad, seq)
		}
	}
}
