//go:build !linux

package powerloss

import "syscall"

// parentDeathAttr: elsewhere a killed harness leaves its qemu running.
func parentDeathAttr() *syscall.SysProcAttr { return nil }
