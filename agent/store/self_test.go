package store

import (
	"os"
	"os/exec"
	"testing"
)

// envEmulator names the emulator (a qemu-user binary) a child run of this
// package's tests runs under (TestEmulatedArchitectures). qemu-user does
// not follow execve into a foreign binary (that takes binfmt_misc, which a
// build machine need not have), so a test that starts this test binary
// again starts it under the same emulator.
const envEmulator = "TETHER_STORE_EMULATOR"

// selfCommand is a command that runs this test binary with args: under
// $TETHER_STORE_EMULATOR when set.
func selfCommand(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if emu := os.Getenv(envEmulator); emu != "" {
		return exec.Command(emu, append([]string{exe}, args...)...)
	}
	return exec.Command(exe, args...)
}
