// Package collect reads a node's resources: its static Facts, sent in every
// birth, and a Sample of its changing metrics, taken every sampling interval.
//
// # Sources
//
// The generic metrics come from gopsutil (github.com/shirou/gopsutil/v4),
// through the system interface so that tests can stand in for the calls
// that read the live machine:
//
//   - CPU: the per-CPU ticks of cpu.ExLinux.TimesWithContext; Tether
//     computes the percentages from the difference between two snapshots,
//     and never calls cpu.Percent, which sleeps or keeps its own snapshot
//     in a package variable;
//   - load: load.AvgWithContext; memory and swap: one
//     mem.VirtualMemoryWithContext (its SwapTotal and SwapFree);
//   - disk: disk.UsageWithContext on Options.DataDir;
//   - network: net.IOCountersWithContext per interface, summed and turned
//     into rates by Tether;
//   - uptime: host.UptimeWithContext;
//   - facts: host.InfoWithContext, once, and cpu.CountsWithContext.
//
// Tether's own readers remain for what gopsutil does not give, or gives at a
// cost a Sample cannot pay: temperatures (see thermal.go), the Raspberry Pi
// firmware's throttling flags, the board model, the boot id and the machine
// identity. Their parsers do no I/O, and are table-tested and fuzzed.
//
// # Roots
//
// Options.ProcRoot, SysRoot, EtcRoot and VarRoot reach gopsutil in the
// context of every call (common.EnvKey), which is how the fixture trees
// under testdata/ drive the tests. gopsutil honours them for the files it
// reads, but these read the live machine whatever the roots:
//
//   - disk.Usage: statfs(2) on the path;
//   - host.Uptime: sysinfo(2);
//   - load.Avg: sysinfo(2) when <proc>/loadavg cannot be read;
//   - host.Info: the hostname (os.Hostname), the kernel and its
//     architecture (uname(2)), /usr/bin/lsb_release when <etc>/lsb-release
//     is absent, /usr/bin/raspi-config, and /.dockerenv (under HOST_ROOT,
//     for which Options has no root), after which the boot time is now
//     minus <proc>/uptime instead of <proc>/stat's btime. The answer to
//     "am I in a container" is kept in a package variable for the life of
//     the process.
//
// The fixture tests stand in for exactly these (fixtureSystem), with the
// values the fixture machines would give; TestLive runs them for real.
//
// # Cost
//
// The agent's budget is 0.3% of one core at 1 s sampling and 16 MiB RSS on a
// Raspberry Pi. A Sample costs 130–160 µs and 225 allocations (24 KiB) on
// a 2-core AMD EPYC VM, most of it gopsutil reading /proc/stat,
// /proc/meminfo and /proc/net/dev: on a Pi Zero 2 W, ten times slower,
// about 0.15% of a core. To keep to that, Sample:
//
//   - makes one call per metric, and reads /proc/stat once: the total CPU
//     is summed from the per-CPU lines, not read from the aggregate line;
//   - does not call mem.SwapMemory (sysinfo(2) plus all of /proc/vmstat,
//     400 allocations, for two numbers /proc/meminfo already gave) nor
//     sensors.Temperatures (see thermal.go);
//   - finds temperature sensors and the throttling source once, in New, and
//     keeps their sysfs files open, re-reading them with pread at offset 0;
//   - never sleeps and never starts a process; host.Info, which may, runs
//     once, in the first Facts.
//
// docs/metrics.md lists each metric with its source.
package collect
