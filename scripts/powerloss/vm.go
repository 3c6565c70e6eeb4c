package powerloss

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// VMConfig is how to boot the VM.
type VMConfig struct {
	Qemu   string // qemu-system-x86_64
	Kernel string // uncompressed vmlinux
	Initrd string
	Disk   string // raw image, reused across boots
	Cache  string // -drive cache=: "none" (O_DIRECT, guest flushes reach the host disk) or "directsync"
	Memory string // -m

	// NBDSocket, when set, replaces Disk: the disk is served over NBD by
	// the harness (a volatileDisk), so qemu's cache mode is moot and every
	// flush and FUA write of the guest reaches the server.
	NBDSocket string
}

// Args is the qemu command line: TCG (KVM is not usable in this
// workplace), one vCPU, no network, the serial console on stdout, and no
// reboot, so a guest panic ends qemu. no_timer_check: under TCG on a
// loaded host the kernel's check that the IO-APIC timer ticks can miss its
// window and panic at boot ("IO-APIC + timer doesn't work!", boot 64 of
// the 2026-12-07 run, load average ~20); the timer is qemu's and works.
func (c VMConfig) Args() []string {
	return []string{
		"-M", "q35", "-cpu", "max", "-m", c.Memory, "-smp", "1",
		"-nodefaults", "-no-user-config", "-nic", "none",
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
		"-drive", c.drive(),
		"-kernel", c.Kernel, "-initrd", c.Initrd,
		"-append", "console=ttyS0 panic=-1 quiet no_timer_check",
	}
}

func (c VMConfig) drive() string {
	if c.NBDSocket != "" {
		return "driver=raw,file.driver=nbd,file.server.type=unix,file.server.path=" + c.NBDSocket + ",if=virtio,cache=writeback"
	}
	return "file=" + c.Disk + ",if=virtio,format=raw,cache=" + c.Cache
}

// ConsoleLine is one complete line of the serial console.
type ConsoleLine struct {
	At   time.Duration // since qemu was started
	Text string
}

// VM is one running qemu. Lines delivers the complete console lines and is
// closed when qemu's stdout ends; a partial last line is dropped. Send
// writes into the console's input (qemu's stdin, the guest's ttyS0).
type VM struct {
	Lines <-chan ConsoleLine

	input chan string // lines for the writer goroutine; closed by Kill

	cmd     *exec.Cmd
	start   time.Time
	stderr  bytes.Buffer
	readers sync.WaitGroup
	once    sync.Once
	waitErr error
	waited  chan struct{} // closed when Wait has reaped qemu
	killed  bool          // Kill and Send are called from one goroutine
}

// StartVM starts qemu. qemu is killed with this process: a harness that
// dies (a test's timeout, a SIGKILL) leaves no VM running on its own.
func StartVM(c VMConfig) (*VM, error) {
	v := &VM{cmd: exec.Command(c.Qemu, c.Args()...), waited: make(chan struct{})}
	v.cmd.SysProcAttr = parentDeathAttr()
	out, err := v.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	in, err := v.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	v.cmd.Stderr = &v.stderr
	lines := make(chan ConsoleLine, 1024)
	v.Lines = lines
	v.start = time.Now()
	if err := v.startQemu(); err != nil {
		return nil, fmt.Errorf("starting qemu: %w", err)
	}
	v.readers.Add(1)
	go func() { // owned by v; ends at qemu's EOF; Kill and Wait wait for it
		defer v.readers.Done()
		defer close(lines)
		readLines(out, v.start, lines)
	}()
	v.input = make(chan string, inputQueue)
	v.readers.Add(1)
	go func() { // owned by v; ends when Kill closes input; Wait waits for it
		defer v.readers.Done()
		defer in.Close()
		failed := false
		for s := range v.input {
			if !failed {
				// A write that fails (qemu is gone) fails the rest: what
				// was not written never reached the guest.
				_, err := io.WriteString(in, s)
				failed = err != nil
			}
		}
	}()
	return v, nil
}

// startQemu starts qemu from a thread that lives until Wait has reaped it:
// Linux sends the parent-death signal when the thread that forked the
// child ends, not only the process, and Go may end an idle thread.
func (v *VM) startQemu() error {
	started := make(chan error, 1)
	go func() { // owned by v: ends after Wait, or with the process
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine, after qemu
		err := v.cmd.Start()
		started <- err
		if err == nil {
			<-v.waited
		}
	}()
	return <-started
}

// inputQueue is how many lines Send holds for qemu's stdin before it
// refuses more.
const inputQueue = 1 << 16

// Send queues s for the console's input without waiting; false when the
// queue is full or the VM was killed (s will not be written).
func (v *VM) Send(s string) bool {
	if v.killed {
		return false
	}
	select {
	case v.input <- s:
		return true
	default:
		return false
	}
}

func readLines(r io.Reader, start time.Time, lines chan<- ConsoleLine) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		s, err := br.ReadString('\n')
		if err != nil {
			return // s, if any, is a line the cut left unfinished
		}
		lines <- ConsoleLine{At: time.Since(start), Text: s}
	}
}

// Since is the time since qemu started.
func (v *VM) Since() time.Duration { return time.Since(v.start) }

// Kill cuts the power: SIGKILL to qemu's own pid (exec'd directly, no
// shell in between). Lines still in the pipe stay readable from Lines:
// qemu wrote them before the cut, so they count.
func (v *VM) Kill() error {
	if !v.killed {
		v.killed = true
		close(v.input)
	}
	if err := v.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// Wait waits for qemu to end. Call it after Lines is closed (drained):
// the reader blocks while Lines is full.
func (v *VM) Wait() error {
	v.once.Do(func() {
		if !v.killed { // qemu ended by itself: end the input's writer
			v.killed = true
			close(v.input)
		}
		v.readers.Wait()
		v.waitErr = v.cmd.Wait()
		close(v.waited)
	})
	return v.waitErr
}

// Stderr is what qemu printed on stderr; valid after Wait.
func (v *VM) Stderr() string { return v.stderr.String() }
