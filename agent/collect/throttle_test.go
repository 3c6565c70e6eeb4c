package collect

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-edge/tether/pkg/protocol"
)

func TestParseThrottled(t *testing.T) {
	tests := []struct {
		in      string
		want    uint32
		wantErr bool
	}{
		{in: "0\n", want: 0},
		{in: "50005\n", want: 0x50005}, // the kernel's %x: hex without prefix
		{in: "80008\n", want: 0x80008},
		{in: "e000e\n", want: 0xe000e},
		{in: "0x50005\n", want: 0x50005},
		{in: "0X5\n", want: 5},
		{in: "throttled=0x50000\n", want: 0x50000}, // vcgencmd get_throttled
		{in: "ffffffff", want: 0xffffffff},
		{in: "100000000", wantErr: true}, // more than 32 bits
		{in: "", wantErr: true},
		{in: "0x", wantErr: true},
		{in: "5g\n", wantErr: true},
		{in: "-1\n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseThrottled([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseThrottled(%q) = %#x, %v; want %#x, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDecodeThrottled(t *testing.T) {
	tests := []struct {
		raw  uint32
		want protocol.Throttle
	}{
		{0, protocol.Throttle{}},
		{0x1, protocol.Throttle{Raw: 0x1, Undervoltage: true}},
		{0x2, protocol.Throttle{Raw: 0x2, FreqCapped: true}},
		{0x4, protocol.Throttle{Raw: 0x4, Throttled: true}},
		{0x8, protocol.Throttle{Raw: 0x8, SoftTempLimit: true}},
		{0x10000, protocol.Throttle{Raw: 0x10000, UndervoltageOccurred: true}},
		{0x20000, protocol.Throttle{Raw: 0x20000, FreqCappedOccurred: true}},
		{0x40000, protocol.Throttle{Raw: 0x40000, ThrottledOccurred: true}},
		{0x80000, protocol.Throttle{Raw: 0x80000, SoftTempLimitOccurred: true}},
		{0x50005, protocol.Throttle{Raw: 0x50005, Undervoltage: true, Throttled: true,
			UndervoltageOccurred: true, ThrottledOccurred: true}},
		// Bits outside 0..3 and 16..19 are kept in Raw only.
		{0xfff0fff0, protocol.Throttle{Raw: 0xfff0fff0}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, decodeThrottled(tt.raw)); diff != "" {
			t.Errorf("decodeThrottled(%#x) (-want +got):\n%s", tt.raw, diff)
		}
	}
}

func TestParseAlarm(t *testing.T) {
	tests := []struct {
		in      string
		want    bool
		wantErr bool
	}{
		{in: "0\n"}, {in: "1\n", want: true}, {in: "1", want: true},
		{in: "2\n", wantErr: true}, {in: "", wantErr: true}, {in: "yes", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseAlarm([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseAlarm(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
