package collect

import (
	"log/slog"
	"time"
)

// Options configure a Collector. The zero Options samples the live machine
// with the agent's data directory taken to be "/".
//
// Memory: a Collector holds one 4 KiB read buffer for the sysfs files, two
// CPU snapshots of 80 bytes per core, two network snapshots of 32 bytes per
// interface, and one open file per temperature sensor and one for
// throttling. Each Sample allocates about 25 KiB of short-lived garbage in
// gopsutil (4 KiB bufio buffers, a string per line of /proc/meminfo, and so
// on), which the next GC cycle takes back.
type Options struct {
	// DataDir is any path on the filesystem whose usage Sample reports as
	// Disk: the agent's data directory. Default "/".
	DataDir string

	// ProcRoot, SysRoot, EtcRoot and VarRoot are where procfs, sysfs, /etc
	// and /var are mounted. Defaults "/proc", "/sys", "/etc", "/var". Tests
	// point them at fixture trees; a containerised agent at the host's.
	// They are handed to gopsutil in place of its HOST_PROC, HOST_SYS,
	// HOST_ETC and HOST_VAR environment variables, which therefore do not
	// apply; what gopsutil reads outside them is listed in doc.go.
	ProcRoot string
	SysRoot  string
	EtcRoot  string
	VarRoot  string

	// NetInterfaces, when not empty, names the only interfaces summed into
	// Net. By default every interface but the loopback is summed, so a
	// bridge and its members (docker0 and veth*) count twice.
	NetInterfaces []string

	// Logger receives the collector's few messages: a source becoming
	// unavailable or available again. Default: discard.
	Logger *slog.Logger

	// Now is the clock that times network counter deltas. Default time.Now,
	// whose monotonic reading makes the deltas immune to clock steps.
	Now func() time.Time
}

// ensureDefaults sets every empty field of o to its default; it is the one
// place defaults are filled in.
func (o *Options) ensureDefaults() {
	if o.DataDir == "" {
		o.DataDir = "/"
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.SysRoot == "" {
		o.SysRoot = "/sys"
	}
	if o.EtcRoot == "" {
		o.EtcRoot = "/etc"
	}
	if o.VarRoot == "" {
		o.VarRoot = "/var"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}
