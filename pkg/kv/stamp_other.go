//go:build !linux

package kv

import "os"

// platformStamp adds nothing outside Linux: size and modification time.
func platformStamp(os.FileInfo) string { return "" }
