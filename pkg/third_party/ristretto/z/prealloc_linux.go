// Tether's patch: see ../README.md.

package z

import (
	"errors"
	"os"
	"syscall"
)

// preallocate gives a new, empty file fd its sz bytes with fallocate, so
// every page of the mapping Badger writes through has a block behind it.
// A file merely truncated to sz is sparse: on a full filesystem the first
// write to a page without a block is SIGBUS, which kills the process with
// nothing to handle; allocated here, a full filesystem is ENOSPC, an error
// the caller returns. A filesystem without fallocate gets the sparse file.
func preallocate(fd *os.File, sz int64) error { return growAllocated(fd, 0, sz) }

// growAllocated extends fd from its size from to size to with the new
// bytes allocated (fallocate mode 0 also sets the size). On a filesystem
// without fallocate the file is extended sparse, as upstream does.
func growAllocated(fd *os.File, from, to int64) error {
	for {
		err := syscall.Fallocate(int(fd.Fd()), 0, from, to-from)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS):
			return fd.Truncate(to)
		default:
			return err
		}
	}
}
