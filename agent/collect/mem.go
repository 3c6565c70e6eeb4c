package collect

import (
	"errors"

	"github.com/shirou/gopsutil/v4/mem"
	"github.com/tether-edge/tether/pkg/protocol"
)

var errNoMemTotal = errors.New("no MemTotal")

// memUsage is physical memory as the scheduler sees it: Available is what a
// new task can get without swapping (the kernel's MemAvailable, which
// gopsutil estimates from /proc/zoneinfo before Linux 3.14), and Used is
// everything else, so page cache does not count as used. gopsutil's own
// Used is not taken: it underflows when Available exceeds Total.
func memUsage(vm *mem.VirtualMemoryStat) (protocol.Mem, error) {
	if vm.Total == 0 {
		return protocol.Mem{}, errNoMemTotal
	}
	avail := min(vm.Available, vm.Total)
	used := vm.Total - avail
	return protocol.Mem{
		Total:     vm.Total,
		Available: avail,
		Used:      used,
		Percent:   round(clampPercent(float64(used)/float64(vm.Total)*100), 2),
	}, nil
}

// swapUsage is the swap space in use, from meminfo's SwapTotal and
// SwapFree; ok is false when the node has none.
func swapUsage(vm *mem.VirtualMemoryStat) (u protocol.Usage, ok bool) {
	if vm.SwapTotal == 0 {
		return protocol.Usage{}, false
	}
	used := vm.SwapTotal - min(vm.SwapFree, vm.SwapTotal)
	return protocol.Usage{
		Total:   vm.SwapTotal,
		Used:    used,
		Percent: round(clampPercent(float64(used)/float64(vm.SwapTotal)*100), 2),
	}, true
}
