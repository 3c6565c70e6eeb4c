//go:build linux && (arm || 386)

package kv

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// limitAddressSpace leaves the process limit bytes of address space, minus
// what it maps already, by reserving the rest (PROT_NONE, no memory behind
// it). qemu-arm reserves the guest's whole 4 GiB up front, so a limit set on
// the host (prlimit --as, ulimit -v) stops qemu itself, and its -R option
// aborts on the ARM commpage in qemu 7.2; a 32-bit guest can only shrink its
// own space. It returns the bytes left free.
func limitAddressSpace(limit uint64) (uint64, error) {
	used, err := mappedBytes()
	if err != nil {
		return 0, err
	}
	if used >= limit {
		return 0, fmt.Errorf("%d bytes mapped already, above the %d limit", used, limit)
	}
	free := limit - used
	// Reserve everything, largest pieces first, then give back enough
	// pieces, largest first, to leave free bytes. Nothing may allocate
	// while the space is exhausted: the Go heap could not grow.
	held := make([][2]uintptr, 0, 1024) // address, length
	for _, size := range []uintptr{256 << 20, 16 << 20, 1 << 20, 64 << 10} {
		for len(held) < cap(held) {
			addr, _, errno := syscall.Syscall6(syscall.SYS_MMAP2, 0, size, syscall.PROT_NONE,
				syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE, ^uintptr(0), 0)
			if errno != 0 {
				break
			}
			held = append(held, [2]uintptr{addr, size})
		}
	}
	var released uint64
	for _, h := range held {
		if released >= free {
			break
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MUNMAP, h[0], h[1], 0); errno != 0 {
			return 0, errno
		}
		released += uint64(h[1])
	}
	return released, nil
}

// mappedBytes sums the mappings in /proc/self/maps.
func mappedBytes() (uint64, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		span, _, _ := strings.Cut(sc.Text(), " ")
		lo, hi, ok := strings.Cut(span, "-")
		if !ok {
			continue
		}
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil && b > a {
			total += b - a
		}
	}
	return total, sc.Err()
}
