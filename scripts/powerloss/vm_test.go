package powerloss

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const envVMChild = "TETHER_POWERLOSS_VM_CHILD"

// TestQemuDiesWithTheHarness kills a harness process (this test binary,
// started again as a child) that has a VM running, as a test's timeout
// does: its qemu — here a stand-in that only sleeps — must die with it, not
// run on burning a core.
func TestQemuDiesWithTheHarness(t *testing.T) {
	if qemu := os.Getenv(envVMChild); qemu != "" {
		v, err := StartVM(VMConfig{Qemu: qemu})
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		fmt.Println("QEMU", v.cmd.Process.Pid)
		time.Sleep(time.Hour) // kept: the parent kills this process
	}
	fake := filepath.Join(t.TempDir(), "qemu")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexec sleep 300\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^TestQemuDiesWithTheHarness$")
	child.Env = append(os.Environ(), envVMChild+"="+fake)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "QEMU ") {
		child.Process.Kill()
		t.Fatalf("child: %q, %v", line, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "QEMU ")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if !alive(pid) {
		t.Fatalf("the stand-in qemu (pid %d) is not running", pid)
	}
	child.Process.Kill()
	child.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("qemu (pid %d) still running 10 s after its harness was killed", pid)
		}
		time.Sleep(20 * time.Millisecond) // kept: polls another process's state
	}
}

// alive reports whether pid runs (a zombie no longer does).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}
