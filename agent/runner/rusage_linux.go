package runner

import (
	"os"
	"syscall"
)

// maxRSSKB is the peak resident set of the task's process (and of the
// descendants it waited for): Linux reports ru_maxrss in KiB.
func maxRSSKB(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss)
	}
	return 0
}
