//go:build !linux

package kv

import "syscall"

// probeAttr: without Pdeathsig a probe child outlives a killed parent; it
// only opens the store and exits.
func probeAttr() *syscall.SysProcAttr { return nil }
