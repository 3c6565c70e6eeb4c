package collect

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	psnet "github.com/shirou/gopsutil/v4/net"
	"github.com/tether-edge/tether/pkg/protocol"
)

func TestIfCountersFrom(t *testing.T) {
	in := []psnet.IOCountersStat{{Name: "lo", BytesRecv: 1, BytesSent: 2, PacketsRecv: 9}, {Name: "eth0", BytesRecv: 3, BytesSent: 4}}
	buf := ifCountersFrom(nil, in)
	if diff := cmp.Diff([]ifCounters{{"lo", 1, 2}, {"eth0", 3, 4}}, buf, cmp.AllowUnexported(ifCounters{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if allocs := testing.AllocsPerRun(100, func() { buf = ifCountersFrom(buf, in) }); allocs != 0 {
		t.Errorf("reusing the buffer: %v allocations, want 0", allocs)
	}
}

func TestCounterDelta(t *testing.T) {
	tests := []struct {
		name            string
		prev, cur, want uint64
	}{
		{"grew", 100, 250, 150},
		{"unchanged", 100, 100, 0},
		{"reset to a small value", 5_000_000, 2048, 2048},
		{"32-bit counter wrapped", 1<<32 - 100, 50, 50},
		{"64-bit maximum", 0, 1<<64 - 1, 1<<64 - 1},
	}
	for _, tt := range tests {
		if got := counterDelta(tt.prev, tt.cur); got != tt.want {
			t.Errorf("%s: counterDelta(%d, %d) = %d, want %d", tt.name, tt.prev, tt.cur, got, tt.want)
		}
	}
}

func TestNetRate(t *testing.T) {
	notLo := func(name string) bool { return name != "lo" }
	tests := []struct {
		name      string
		prev, cur []ifCounters
		seconds   float64
		count     func(string) bool
		want      protocol.Net
	}{
		{
			name:    "loopback left out",
			prev:    []ifCounters{{"lo", 0, 0}, {"eth0", 1000, 500}},
			cur:     []ifCounters{{"lo", 1e9, 1e9}, {"eth0", 21000, 10500}},
			seconds: 10, count: notLo,
			want: protocol.Net{RxBps: 2000, TxBps: 1000},
		},
		{
			name:    "interfaces summed, any order",
			prev:    []ifCounters{{"wlan0", 0, 0}, {"eth0", 0, 0}},
			cur:     []ifCounters{{"eth0", 100, 200}, {"wlan0", 300, 400}},
			seconds: 2, count: notLo,
			want: protocol.Net{RxBps: 200, TxBps: 300},
		},
		{
			name:    "counter reset never negative",
			prev:    []ifCounters{{"eth0", 5_000_000, 9_000_000}},
			cur:     []ifCounters{{"eth0", 2048, 1024}},
			seconds: 1, count: notLo,
			want: protocol.Net{RxBps: 2048, TxBps: 1024},
		},
		{
			name:    "new interface adds nothing until it has a baseline",
			prev:    []ifCounters{{"eth0", 0, 0}},
			cur:     []ifCounters{{"eth0", 10, 10}, {"veth1", 1e12, 1e12}},
			seconds: 1, count: notLo,
			want: protocol.Net{RxBps: 10, TxBps: 10},
		},
		{
			name:    "only the configured interfaces",
			prev:    []ifCounters{{"eth0", 0, 0}, {"docker0", 0, 0}},
			cur:     []ifCounters{{"eth0", 10, 20}, {"docker0", 1000, 1000}},
			seconds: 1, count: func(n string) bool { return n == "eth0" },
			want: protocol.Net{RxBps: 10, TxBps: 20},
		},
		{
			name:    "rounded to whole bytes",
			prev:    []ifCounters{{"eth0", 0, 0}},
			cur:     []ifCounters{{"eth0", 10, 11}},
			seconds: 3, count: notLo,
			want: protocol.Net{RxBps: 3, TxBps: 4},
		},
		{
			name:    "no time elapsed",
			prev:    []ifCounters{{"eth0", 0, 0}},
			cur:     []ifCounters{{"eth0", 10, 10}},
			seconds: 0, count: notLo,
			want: protocol.Net{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := netRate(tt.prev, tt.cur, tt.seconds, tt.count)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
