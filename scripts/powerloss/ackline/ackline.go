// Package ackline is the line the power-cut harness (scripts/powerloss)
// writes into a guest's serial console to acknowledge a record, as a
// broker's PUBACK reaches the agent, and how the guest's workloads read
// it:
//
//	ACK <seq> <check>
//
// <check> is Check(seq) in hex, so that a line the emulated UART garbled
// (a dropped or changed character) cannot release another record: Parse
// refuses a line whose check does not match.
package ackline

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Check is a multiplicative hash of seq, folded to 32 bits.
func Check(seq uint64) uint32 {
	h := seq * 0x9e3779b97f4a7c15
	return uint32(h>>32) ^ uint32(h)
}

// Format is the line that acknowledges seq, newline included.
func Format(seq uint64) string { return fmt.Sprintf("ACK %d %x\n", seq, Check(seq)) }

// Parse reads an acknowledgement line: ok only when it is well formed and
// its check matches.
func Parse(s string) (seq uint64, ok bool) {
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "ACK" {
		return 0, false
	}
	seq, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	c, err := strconv.ParseUint(f[2], 16, 32)
	return seq, err == nil && uint32(c) == Check(seq)
}

// Read calls take with each acknowledged seq read from r, in order, until
// r ends; lines that do not parse are skipped. In a guest it reads the
// console (os.Stdin) and ends with the process.
func Read(r io.Reader, take func(seq uint64)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if seq, ok := Parse(sc.Text()); ok {
			take(seq)
		}
	}
}
