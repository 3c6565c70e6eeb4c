package store

import "golang.org/x/sys/unix"

// freeBytes returns the bytes an unprivileged process may still allocate
// on the filesystem holding dir (statfs f_bavail).
func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
