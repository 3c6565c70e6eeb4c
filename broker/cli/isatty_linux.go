package cli

import "golang.org/x/sys/unix"

// fdIsTerminal: only a terminal answers TCGETS.
func fdIsTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}
