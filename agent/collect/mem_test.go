package collect

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/tether-edge/tether/pkg/protocol"
)

func TestMemUsage(t *testing.T) {
	tests := []struct {
		name     string
		in       mem.VirtualMemoryStat
		want     protocol.Mem
		wantSwap *protocol.Usage
		wantErr  bool
	}{
		{
			name:     "with swap",
			in:       mem.VirtualMemoryStat{Total: 1000, Available: 600, SwapTotal: 400, SwapFree: 300},
			want:     protocol.Mem{Total: 1000, Available: 600, Used: 400, Percent: 40},
			wantSwap: &protocol.Usage{Total: 400, Used: 100, Percent: 25},
		},
		{
			name: "no swap",
			in:   mem.VirtualMemoryStat{Total: 3000, Available: 1000},
			want: protocol.Mem{Total: 3000, Available: 1000, Used: 2000, Percent: 66.67},
		},
		{
			name: "available above total is clamped", // gopsutil's Used would underflow
			in:   mem.VirtualMemoryStat{Total: 1000, Available: 1200, Used: 1<<64 - 200},
			want: protocol.Mem{Total: 1000, Available: 1000},
		},
		{
			name:     "swap free above total",
			in:       mem.VirtualMemoryStat{Total: 1000, Available: 1000, SwapTotal: 10, SwapFree: 20},
			want:     protocol.Mem{Total: 1000, Available: 1000},
			wantSwap: &protocol.Usage{Total: 10},
		},
		{name: "no total", in: mem.VirtualMemoryStat{Free: 100}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := memUsage(&tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mem (-want +got):\n%s", diff)
			}
			var swap *protocol.Usage
			if u, ok := swapUsage(&tt.in); ok {
				swap = &u
			}
			if diff := cmp.Diff(tt.wantSwap, swap); diff != "" {
				t.Errorf("swap (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadAvg(t *testing.T) {
	tests := []struct {
		in      load.AvgStat
		want    protocol.Load
		wantErr bool
	}{
		{in: load.AvgStat{Load1: 0.52, Load5: 0.58, Load15: 0.59}, want: protocol.Load{M1: 0.52, M5: 0.58, M15: 0.59}},
		{in: load.AvgStat{Load1: 0.52, Load5: -1, Load15: 0.59}, wantErr: true},
		{in: load.AvgStat{Load1: 0.52, Load5: math.NaN(), Load15: 0.59}, wantErr: true},
		{in: load.AvgStat{Load1: math.Inf(1)}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := loadAvg(&tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("loadAvg(%+v) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDiskUsage(t *testing.T) {
	tests := []struct {
		name string
		in   disk.UsageStat
		want protocol.Usage
	}{
		// 100 blocks of 4 KiB, 30 free of which 25 available to users.
		{"ext4 with reserve", disk.UsageStat{Total: 409600, Used: 286720, Free: 102400, UsedPercent: 73.68421052631578},
			protocol.Usage{Total: 409600, Used: 286720, Percent: 73.68}},
		{"full for users", disk.UsageStat{Total: 102400, Used: 97280, UsedPercent: 100},
			protocol.Usage{Total: 102400, Used: 97280, Percent: 100}},
		{"pseudo filesystem", disk.UsageStat{}, protocol.Usage{}},
		{"used above total", disk.UsageStat{Total: 10, Used: 1<<64 - 10, UsedPercent: 100.5},
			protocol.Usage{Total: 10, Used: 10, Percent: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, diskUsage(&tt.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
