//go:build !linux

package kv

// syncFS does nothing where there is no syncfs: syncTree fsyncs each file.
func syncFS(string) (bool, error) { return false, nil }
