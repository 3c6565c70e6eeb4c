//go:build !linux

package collect

import "errors"

// statfs is implemented for Linux only, the agent's one target; elsewhere
// the package builds so that its tests and tools run on a developer's
// machine, and Disk is absent.
func statfs(string) (fsStat, error) { return fsStat{}, errors.ErrUnsupported }
