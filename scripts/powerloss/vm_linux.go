package powerloss

import "syscall"

// parentDeathAttr has the kernel SIGKILL qemu when the harness ends.
func parentDeathAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
