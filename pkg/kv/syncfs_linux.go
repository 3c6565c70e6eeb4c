package kv

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS writes out everything of the filesystem holding dir — data,
// inodes, directory entries — and flushes the device's cache: one call
// where fsyncing thousands of a rebuild's files one by one would wait for
// as many flushes of an SD card. Since Linux 5.8 it reports writeback
// errors.
func syncFS(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return true, err
	}
	defer f.Close()
	return true, unix.Syncfs(int(f.Fd()))
}
