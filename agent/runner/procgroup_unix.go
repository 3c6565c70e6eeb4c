//go:build unix

package runner

import (
	"os"
	"os/exec"
	"syscall"
)

// execSupported: exec tasks run in process groups of their own.
const execSupported = true

func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// termGroup and killGroup signal every process of the group pid leads.
// ESRCH (the group is gone) is not worth reporting.
func termGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGTERM) }
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

func signalOf(ps *os.ProcessState) (os.Signal, bool) {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return nil, false
	}
	return ws.Signal(), true
}
