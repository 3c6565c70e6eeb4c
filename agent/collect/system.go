package collect

import (
	"context"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	psnet "github.com/shirou/gopsutil/v4/net"
)

// system is every gopsutil call the Collector makes. The Collector takes it
// as an interface so that tests can stand in for the calls that read the
// live machine whatever the roots (statfs, sysinfo, uname, lsb_release);
// the rest read the fixture tree through the roots in the context.
type system interface {
	// cpuTimes returns dst[:0] with the cumulative times of the online
	// CPUs appended, in the kernel's order.
	cpuTimes(ctx context.Context, dst []cpuTimes) ([]cpuTimes, error)
	memory(ctx context.Context) (*mem.VirtualMemoryStat, error)
	loadAvg(ctx context.Context) (*load.AvgStat, error)
	diskUsage(ctx context.Context, path string) (*disk.UsageStat, error)
	netCounters(ctx context.Context) ([]psnet.IOCountersStat, error)
	uptime(ctx context.Context) (uint64, error)
	// The facts, read once.
	hostInfo(ctx context.Context) (*host.InfoStat, error)
	logicalCores(ctx context.Context) (int, error)
}

// psutil is the system as gopsutil reads it; cpuTimes, which differs
// between Linux and the rest, is in cpu_*.go.
type psutil struct{}

var _ system = psutil{}

// memory reads <proc>/meminfo. Its SwapTotal and SwapFree are Swap:
// mem.SwapMemory would read the same two numbers through sysinfo(2), outside
// the roots, and all of /proc/vmstat besides.
func (psutil) memory(ctx context.Context) (*mem.VirtualMemoryStat, error) {
	return mem.VirtualMemoryWithContext(ctx)
}

// loadAvg reads <proc>/loadavg, and falls back to sysinfo(2) when that
// fails: a broken loadavg in a fixture tree reads the live machine's load.
func (psutil) loadAvg(ctx context.Context) (*load.AvgStat, error) {
	return load.AvgWithContext(ctx)
}

// diskUsage is statfs(2) on path, which no root applies to.
func (psutil) diskUsage(ctx context.Context, path string) (*disk.UsageStat, error) {
	return disk.UsageWithContext(ctx, path)
}

// netCounters reads <proc>/net/dev.
func (psutil) netCounters(ctx context.Context) ([]psnet.IOCountersStat, error) {
	return psnet.IOCountersWithContext(ctx, true)
}

// uptime is sysinfo(2)'s, on the boot-time clock: unlike now minus the boot
// time, it does not jump when NTP first sets the clock of a Raspberry Pi,
// which has no real-time clock.
func (psutil) uptime(ctx context.Context) (uint64, error) {
	return host.UptimeWithContext(ctx)
}

// hostInfo is gopsutil's host.Info; see readFacts for what it reads.
func (psutil) hostInfo(ctx context.Context) (*host.InfoStat, error) {
	return host.InfoWithContext(ctx)
}

// logicalCores counts the processors of <proc>/cpuinfo, or else the cpuN
// lines of <proc>/stat: the online CPUs.
func (psutil) logicalCores(ctx context.Context) (int, error) {
	return cpu.CountsWithContext(ctx, true)
}

// roots is where gopsutil finds procfs, sysfs, /etc and /var: set from
// Options, so that the HOST_PROC, HOST_SYS, HOST_ETC and HOST_VAR
// variables gopsutil otherwise reads from the environment do not apply.
func roots(o Options) common.EnvMap {
	return common.EnvMap{
		common.HostProcEnvKey: o.ProcRoot,
		common.HostSysEnvKey:  o.SysRoot,
		common.HostEtcEnvKey:  o.EtcRoot,
		common.HostVarEnvKey:  o.VarRoot,
	}
}
