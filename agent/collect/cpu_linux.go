package collect

import (
	"context"

	"github.com/shirou/gopsutil/v4/cpu"
)

// cpuTimes reads the cpuN lines of <proc>/stat through gopsutil's Linux
// extension: its counters are the kernel's ticks as printed, and a missing
// file or a malformed line is an error, where cpu.Times turns both into an
// empty answer and converts the ticks to float seconds.
func (psutil) cpuTimes(ctx context.Context, dst []cpuTimes) ([]cpuTimes, error) {
	ts, err := cpu.NewExLinux().TimesWithContext(ctx, true)
	if err != nil {
		return dst[:0], err
	}
	dst = dst[:0]
	for _, t := range ts {
		dst = append(dst, cpuTimes{
			name: t.CPU, user: t.User, nice: t.Nice, system: t.System, idle: t.Idle,
			iowait: t.Iowait, irq: t.Irq, softirq: t.Softirq, steal: t.Steal,
		})
	}
	return dst, nil
}
