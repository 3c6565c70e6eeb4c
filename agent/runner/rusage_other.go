//go:build !linux

package runner

import "os"

// maxRSSKB is 0 where the unit of ru_maxrss differs (bytes on macOS) or
// there is none: the agent's targets are Linux.
func maxRSSKB(*os.ProcessState) int64 { return 0 }
