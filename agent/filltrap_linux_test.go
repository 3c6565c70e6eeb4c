package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fillTrap is another process's write that takes a filesystem's last
// bytes at the worst moment: when any process opens a file whose name ends
// in suffix in dir, it holds that open (a fanotify permission event),
// fills the filesystem with one file, then lets the open go on. Opening a
// file Badger is about to allocate, it is the write that lands between the
// agent's look at the free space and Badger's allocation. It needs root
// (CAP_SYS_ADMIN); it fires once, after Arm.
type fillTrap struct {
	f      *os.File // the fanotify group, non-blocking: Close ends a Read
	suffix string
	fill   func() // fills the filesystem

	mu    sync.Mutex
	armed bool
	fired chan string // the path it fired on
	err   error       // what stopped the loop early
	done  chan struct{}
}

// newFillTrap watches dir's files; fill runs when it fires. It stops when
// the test ends, letting every held open go on.
func newFillTrap(t testing.TB, dir, suffix string, fill func()) *fillTrap {
	t.Helper()
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK, unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		t.Fatalf("fanotify_init: %v (the test needs root)", err)
	}
	if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD, unix.FAN_OPEN_PERM|unix.FAN_EVENT_ON_CHILD, unix.AT_FDCWD, dir); err != nil {
		unix.Close(fd)
		t.Fatalf("fanotify_mark %s: %v", dir, err)
	}
	tr := &fillTrap{f: os.NewFile(uintptr(fd), "fanotify"), suffix: suffix, fill: fill, fired: make(chan string, 1), done: make(chan struct{})}
	go tr.loop()
	t.Cleanup(func() {
		// Closing the group allows every open it still holds.
		_ = tr.f.Close()
		<-tr.done
		if tr.err != nil {
			t.Errorf("fill trap: %v", tr.err)
		}
	})
	return tr
}

// Arm makes the next open of a file ending in suffix fill the filesystem.
func (tr *fillTrap) Arm() {
	tr.mu.Lock()
	tr.armed = true
	tr.mu.Unlock()
}

// Fired is where the path the trap fired on arrives.
func (tr *fillTrap) Fired() <-chan string { return tr.fired }

func (tr *fillTrap) loop() {
	defer close(tr.done)
	buf := make([]byte, 64<<10)
	const metaLen = int(unsafe.Sizeof(unix.FanotifyEventMetadata{}))
	for {
		n, err := tr.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				tr.err = fmt.Errorf("read: %v", err)
			}
			return
		}
		for off := 0; off+metaLen <= n; {
			var ev unix.FanotifyEventMetadata
			if err := binary.Read(bytes.NewReader(buf[off:off+metaLen]), binary.NativeEndian, &ev); err != nil {
				tr.err = err
				return
			}
			if ev.Event_len < uint32(metaLen) {
				tr.err = fmt.Errorf("event of %d bytes", ev.Event_len)
				return
			}
			off += int(ev.Event_len)
			if ev.Fd < 0 {
				continue // the queue overflowed: nothing to answer
			}
			path, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", ev.Fd))
			tr.mu.Lock()
			fire := tr.armed && strings.HasSuffix(path, tr.suffix)
			if fire {
				tr.armed = false
			}
			tr.mu.Unlock()
			if fire {
				tr.fill()
				tr.fired <- path
			}
			var resp bytes.Buffer
			_ = binary.Write(&resp, binary.NativeEndian, unix.FanotifyResponse{Fd: ev.Fd, Response: unix.FAN_ALLOW})
			if _, err := tr.f.Write(resp.Bytes()); err != nil && tr.err == nil && !errors.Is(err, os.ErrClosed) {
				tr.err = fmt.Errorf("answering the open of %s: %v", path, err)
			}
			_ = unix.Close(int(ev.Fd))
		}
	}
}
