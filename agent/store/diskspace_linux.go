package store

import "golang.org/x/sys/unix"

// bytesPerInode is what one free inode counts for in the store's room:
// the smallest file the store writes data into, a blob of a value at the
// value threshold (16 KiB).
const bytesPerInode = 16 << 10

// freeBytes returns the room the store still has on the filesystem
// holding dir, in bytes: what an unprivileged process may still allocate
// (statfs f_bavail), or, on a filesystem that counts inodes, its free
// inodes × bytesPerInode when that is less — every blob and each of
// Badger's files takes an inode, and a filesystem out of inodes refuses a
// new file (ENOSPC) as one out of blocks does.
func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if st.Files > 0 { // 0: no inode limit (btrfs and others report none)
		free = min(free, int64(st.Ffree)*bytesPerInode)
	}
	return free, nil
}

// freeInodes returns the free inodes of the filesystem holding dir, and
// false when it does not count them or statfs fails.
func freeInodes(dir string) (int64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Files == 0 {
		return 0, false
	}
	return int64(st.Ffree), true
}
