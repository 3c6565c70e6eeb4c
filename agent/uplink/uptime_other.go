//go:build !linux

package uplink

// uptimeMS is unknown off Linux: messages then carry no up_ms and the
// scheduler keeps the agent's wall-clock time.
func uptimeMS() uint64 { return 0 }
