// Package collect reads a node's resources: its static Facts, sent in every
// birth, and a Sample of its changing metrics, taken every sampling interval.
//
// Everything comes from the kernel's text files under /proc and /sys (and
// /etc for the distribution), whose roots are Options so tests run on the
// fixture trees under testdata/. Reading a file is kept apart from parsing
// it: every parse* function is pure, table-tested and fuzzed.
//
// # Cost
//
// The agent's budget is 0.3% of one core at 1 s sampling and 16 MiB RSS on a
// Raspberry Pi, so Sample:
//
//   - keeps every file it reads each time open and re-reads it with pread at
//     offset 0, which makes procfs (seq_file) and sysfs regenerate the
//     contents; that saves an open/close pair per file per sample;
//   - parses into buffers it reuses, allocating only what the returned Sample
//     owns (the per-core slice, the temperature map, one block for the
//     optional parts);
//   - finds temperature sensors and the throttling source once, in New;
//   - never sleeps and never starts a process.
//
// # Why not gopsutil
//
// gopsutil v4 was the first choice and its source (v4.26.10) was read for
// it. It is not used because, on this hot path:
//
//   - it costs ~240 µs and ~660 allocations per sample on an x86 server
//     (SwapMemory alone reads all of /proc/vmstat, 400 allocations);
//   - several calls ignore the roots given through common.EnvKey and read the
//     live machine instead: SwapMemory and Uptime call sysinfo(2),
//     KernelVersion calls uname(2), and host.BootTime and Virtualization cache
//     their first answer in package globals;
//   - host.PlatformInformation runs /usr/bin/lsb_release (a Python script,
//     about a second on a Pi Zero) when /etc/lsb-release is absent, as on
//     Debian and Raspberry Pi OS, and checks /usr/bin/raspi-config outside
//     any root;
//   - importing it needs golang.org/x/sys, github.com/tklauser/go-sysconf and
//     others in go.mod, which the module does not yet list.
//
// The Linux files read here are few and stable; docs/metrics.md lists each
// metric with its source.
package collect
