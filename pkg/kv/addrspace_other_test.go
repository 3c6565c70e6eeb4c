//go:build !(linux && (arm || 386))

package kv

import "errors"

// limitAddressSpace is for 32-bit Linux processes; a 64-bit one is limited
// from outside (prlimit --as).
func limitAddressSpace(uint64) (uint64, error) {
	return 0, errors.New("a 64-bit process is limited from outside (prlimit --as)")
}
