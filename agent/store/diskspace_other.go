//go:build !linux

package store

import "math"

// freeBytes is not measured off Linux: the disk never counts as full.
func freeBytes(string) (int64, error) { return math.MaxInt64, nil }

// freeInodes is not measured off Linux.
func freeInodes(string) (int64, bool) { return 0, false }
