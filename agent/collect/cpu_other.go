//go:build !linux

package collect

import (
	"context"

	"github.com/shirou/gopsutil/v4/cpu"
)

// cpuTimes reads the per-CPU times where gopsutil has no tick counters, so
// that the package's tests and tools run on a developer's machine: its
// seconds are made microseconds, a unit as good as ticks for percentages.
func (psutil) cpuTimes(ctx context.Context, dst []cpuTimes) ([]cpuTimes, error) {
	ts, err := cpu.TimesWithContext(ctx, true)
	if err != nil {
		return dst[:0], err
	}
	us := func(s float64) uint64 { return uint64(max(s, 0) * 1e6) }
	dst = dst[:0]
	for _, t := range ts {
		dst = append(dst, cpuTimes{
			name: t.CPU, user: us(t.User), nice: us(t.Nice), system: us(t.System), idle: us(t.Idle),
			iowait: us(t.Iowait), irq: us(t.Irq), softirq: us(t.Softirq), steal: us(t.Steal),
		})
	}
	return dst, nil
}
