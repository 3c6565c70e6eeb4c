//go:build !linux

// Tether's patch: see ../README.md.

package z

import "os"

// preallocate sizes a new, empty file: only Linux's fallocate is used.
func preallocate(fd *os.File, sz int64) error { return fd.Truncate(sz) }
