package kv

import "syscall"

// probeAttr makes a probe child die with its parent: a kill of the process
// that is opening the store ends its probe too, which then decides nothing.
func probeAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
