package uplink

import "golang.org/x/sys/unix"

// uptimeMS is CLOCK_BOOTTIME in milliseconds: time since boot, counting
// suspend, immune to wall-clock steps (NTP's first sync on a Pi without a
// real-time clock). 0 if the clock cannot be read.
func uptimeMS() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return uint64(ts.Sec)*1000 + uint64(ts.Nsec)/1e6
}
