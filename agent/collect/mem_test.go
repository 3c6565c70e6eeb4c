package collect

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-edge/tether/pkg/protocol"
)

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     meminfo
		wantMem  protocol.Mem
		wantSwap *protocol.Usage
		wantErr  bool
	}{
		{
			name: "modern kernel with swap",
			in: "MemTotal:        1000 kB\nMemFree:          100 kB\nMemAvailable:     600 kB\n" +
				"Buffers:           50 kB\nCached:           300 kB\nSwapCached:         0 kB\n" +
				"SwapTotal:        400 kB\nSwapFree:         300 kB\nHugePages_Total:       0\n",
			want: meminfo{total: 1000 << 10, free: 100 << 10, available: 600 << 10, hasAvailable: true,
				buffers: 50 << 10, cached: 300 << 10, swapTotal: 400 << 10, swapFree: 300 << 10},
			wantMem:  protocol.Mem{Total: 1000 << 10, Available: 600 << 10, Used: 400 << 10, Percent: 40},
			wantSwap: &protocol.Usage{Total: 400 << 10, Used: 100 << 10, Percent: 25},
		},
		{
			name:    "no swap",
			in:      "MemTotal: 3000 kB\nMemAvailable: 1000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
			want:    meminfo{total: 3000 << 10, available: 1000 << 10, hasAvailable: true},
			wantMem: protocol.Mem{Total: 3000 << 10, Available: 1000 << 10, Used: 2000 << 10, Percent: 66.67},
		},
		{
			name:    "Linux before 3.14: no MemAvailable",
			in:      "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n",
			want:    meminfo{total: 1000 << 10, free: 100 << 10, buffers: 50 << 10, cached: 250 << 10},
			wantMem: protocol.Mem{Total: 1000 << 10, Available: 400 << 10, Used: 600 << 10, Percent: 60},
		},
		{
			name:    "available above total is clamped",
			in:      "MemTotal: 1000 kB\nMemAvailable: 1200 kB\n",
			want:    meminfo{total: 1000 << 10, available: 1200 << 10, hasAvailable: true},
			wantMem: protocol.Mem{Total: 1000 << 10, Available: 1000 << 10},
		},
		{name: "no total", in: "MemFree: 100 kB\n", wantErr: true},
		{name: "zero total", in: "MemTotal: 0 kB\n", wantErr: true},
		{name: "garbage value", in: "MemTotal: lots kB\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMeminfo([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts); diff != "" {
				t.Errorf("meminfo (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantMem, got.mem()); diff != "" {
				t.Errorf("mem (-want +got):\n%s", diff)
			}
			var swap *protocol.Usage
			if u, ok := got.swap(); ok {
				swap = &u
			}
			if diff := cmp.Diff(tt.wantSwap, swap); diff != "" {
				t.Errorf("swap (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseLoadavg(t *testing.T) {
	tests := []struct {
		in      string
		want    protocol.Load
		wantErr bool
	}{
		{in: "0.52 0.58 0.59 2/389 12345\n", want: protocol.Load{M1: 0.52, M5: 0.58, M15: 0.59}},
		{in: "12.00 8.50 4.25 9/1024 1\n", want: protocol.Load{M1: 12, M5: 8.5, M15: 4.25}},
		{in: "0.52 0.58\n", wantErr: true},
		{in: "0.52 -1 0.59 1/1 1\n", wantErr: true},
		{in: "0.52 NaN 0.59 1/1 1\n", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseLoadavg([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("parseLoadavg(%q) err = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("parseLoadavg(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseUptime(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{in: "354918.47 1392744.89\n", want: 354918},
		{in: "0.99 0.50\n", want: 0},
		{in: "12\n", want: 12},
		{in: "", wantErr: true},
		{in: ".5 1\n", wantErr: true},
		{in: "-3.00 1\n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseUptime([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseUptime(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		in   fsStat
		want protocol.Usage
	}{
		// 100 blocks, 30 free of which 25 available to users (5 reserved).
		{"ext4 with reserve", fsStat{blocks: 100, bfree: 30, bavail: 25, bsize: 4096},
			protocol.Usage{Total: 409600, Used: 286720, Percent: 73.68}},
		{"full for users", fsStat{blocks: 100, bfree: 5, bavail: 0, bsize: 1024},
			protocol.Usage{Total: 102400, Used: 97280, Percent: 100}},
		{"empty filesystem", fsStat{blocks: 100, bfree: 100, bavail: 100, bsize: 512},
			protocol.Usage{Total: 51200, Percent: 0}},
		{"pseudo filesystem", fsStat{}, protocol.Usage{}},
		{"bfree above blocks", fsStat{blocks: 10, bfree: 20, bavail: 20, bsize: 1},
			protocol.Usage{Total: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, usage(tt.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
