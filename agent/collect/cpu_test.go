package collect

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCPUDelta(t *testing.T) {
	base := cpuTimes{user: 1000, nice: 10, system: 500, idle: 9000, iowait: 100, irq: 5, softirq: 20, steal: 0}
	tests := []struct {
		name string
		cur  cpuTimes
		want float64
	}{
		{"idle", add(base, delta{idle: 100}), 0},
		{"busy", add(base, delta{user: 100}), 100},
		{"iowait is idle", add(base, delta{user: 25, iowait: 75}), 25},
		{"steal is busy", add(base, delta{steal: 50, idle: 50}), 50},
		{"every busy column", add(base, delta{user: 1, nice: 1, system: 1, irq: 1, softirq: 1, steal: 1, idle: 4}), 60},
		{"rounded to 2 decimals", add(base, delta{user: 1, idle: 2}), 33.33},
		{"no tick elapsed", base, 0},
		{"iowait went backwards", add(base, delta{user: 50, idle: 50, iowait: -10}), 50},
		{"counters restarted (cpu re-onlined)", cpuTimes{user: 10, idle: 10}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := busyPercent(cpuDelta(base, tt.cur)); got != tt.want {
				t.Errorf("busy = %v%%, want %v%%", got, tt.want)
			}
		})
	}
}

func TestCPUUsage(t *testing.T) {
	c := func(name string, busy, idle uint64) cpuTimes { return cpuTimes{name: name, user: busy, idle: idle} }
	tests := []struct {
		name      string
		prev, cur []cpuTimes
		wantTotal float64
		want      []float64
	}{
		{"same cpus", []cpuTimes{c("cpu0", 0, 0), c("cpu1", 0, 0)}, []cpuTimes{c("cpu0", 10, 90), c("cpu1", 50, 50)}, 30, []float64{10, 50}},
		{"total weighs cpus by their ticks", []cpuTimes{c("cpu0", 0, 0), c("cpu1", 0, 0)}, []cpuTimes{c("cpu0", 100, 0), c("cpu1", 0, 300)}, 25, []float64{100, 0}},
		{"cpu1 went offline", []cpuTimes{c("cpu0", 0, 0), c("cpu1", 0, 0), c("cpu2", 0, 0)}, []cpuTimes{c("cpu0", 10, 90), c("cpu2", 30, 70)}, 20, []float64{10, 30}},
		{"cpu1 came online: no baseline", []cpuTimes{c("cpu0", 0, 0)}, []cpuTimes{c("cpu0", 10, 90), c("cpu1", 80, 20)}, 10, []float64{10, 0}},
		{"no cpus", nil, nil, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			total, got := cpuUsage(nil, tt.prev, tt.cur)
			if total != tt.wantTotal {
				t.Errorf("total = %v, want %v", total, tt.wantTotal)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("per core (-want +got):\n%s", diff)
			}
		})
	}
}

type delta struct{ user, nice, system, idle, iowait, irq, softirq, steal int64 }

// add returns t moved by d; a negative delta makes a counter go backwards.
func add(t cpuTimes, d delta) cpuTimes {
	t.user += uint64(d.user)
	t.nice += uint64(d.nice)
	t.system += uint64(d.system)
	t.idle += uint64(d.idle)
	t.iowait += uint64(d.iowait)
	t.irq += uint64(d.irq)
	t.softirq += uint64(d.softirq)
	t.steal += uint64(d.steal)
	return t
}
