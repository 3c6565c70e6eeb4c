package kv

import (
	"os"
	"strconv"
	"syscall"
)

// platformStamp is the inode and change time of fi: a file copied or
// restored in place, its modification time preserved, still differs.
func platformStamp(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return strconv.FormatUint(uint64(st.Ino), 10) + ":" +
		strconv.FormatInt(int64(st.Ctim.Sec), 10) + ":" + strconv.FormatInt(int64(st.Ctim.Nsec), 10)
}
