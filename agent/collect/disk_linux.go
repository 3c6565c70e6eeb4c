package collect

import (
	"os"
	"syscall"
)

// statfs returns the filesystem statistics of the filesystem holding path.
func statfs(path string) (fsStat, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return fsStat{}, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	// f_blocks, f_bfree and f_bavail count f_frsize units; kernels before
	// 2.6 left f_frsize 0 and meant f_bsize.
	size := uint64(st.Frsize)
	if size == 0 {
		size = uint64(st.Bsize)
	}
	return fsStat{blocks: uint64(st.Blocks), bfree: uint64(st.Bfree), bavail: uint64(st.Bavail), bsize: size}, nil
}
