package collect

import (
	"bytes"
	"errors"
	"path/filepath"
	"strconv"

	"github.com/tether-edge/tether/pkg/protocol"
)

// The Raspberry Pi firmware's throttling word (get_throttled). Bits 0..3 are
// current, bits 16..19 the same conditions "has occurred" since boot, or
// since the rpi_volt hwmon driver last polled: it asks the firmware to clear
// the sticky bits every 2 s (drivers/hwmon/raspberrypi-hwmon.c).
const (
	thrUndervoltage  = 1 << 0
	thrFreqCapped    = 1 << 1
	thrThrottled     = 1 << 2
	thrSoftTempLimit = 1 << 3
	thrOccurredShift = 16
)

// Where the word is read. The firmware driver's sysfs attribute exists on the
// Raspberry Pi kernels; mainline kernels (and the newest Pi kernels, which
// deprecate the attribute) have only the rpi_volt hwmon device, whose
// in0_lcrit_alarm is the undervoltage bit.
const throttledPath = "devices/platform/soc/soc:firmware/get_throttled"

// throttleSource is the file the throttling state is read from.
type throttleSource struct {
	file  kfile
	hwmon bool // file is rpi_volt's in0_lcrit_alarm, not get_throttled
}

// discoverThrottle finds the throttling source under sysRoot; nil when the
// node is not a Raspberry Pi.
func discoverThrottle(sysRoot string) *throttleSource {
	if p := filepath.Join(sysRoot, throttledPath); exists(p) {
		return &throttleSource{file: kfile{path: p}}
	}
	// Other SoCs name the bus node differently (soc@107c000000 on a Pi 5).
	if ms, _ := filepath.Glob(filepath.Join(sysRoot, "devices/platform/soc*/*:firmware/get_throttled")); len(ms) > 0 {
		return &throttleSource{file: kfile{path: ms[0]}}
	}
	hwmons := filepath.Join(sysRoot, "class", "hwmon")
	for _, n := range numbered(hwmons, "hwmon") {
		dir := filepath.Join(hwmons, "hwmon"+strconv.Itoa(n))
		name, _ := readSmall(filepath.Join(dir, "name"))
		alarm := filepath.Join(dir, "in0_lcrit_alarm")
		if string(trimValue(name)) == "rpi_volt" && exists(alarm) {
			return &throttleSource{file: kfile{path: alarm}, hwmon: true}
		}
	}
	return nil
}

// parseThrottled parses the get_throttled word. The kernel prints it in hex
// without a prefix ("50005\n", sprintf "%x" in
// drivers/firmware/raspberrypi.c); "0x50005" and vcgencmd's
// "throttled=0x50005" are accepted too. A bare number is always hex: read as
// decimal, "50005" would decode to the wrong bits.
func parseThrottled(data []byte) (uint32, error) {
	f, _ := nextField(data)
	f = bytes.TrimPrefix(f, []byte("throttled="))
	if len(f) > 2 && f[0] == '0' && (f[1] == 'x' || f[1] == 'X') {
		f = f[2:]
	}
	if len(f) == 0 || len(f) > 8 {
		return 0, errors.New("malformed get_throttled")
	}
	var v uint32
	for _, c := range f {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, errors.New("malformed get_throttled")
		}
		v = v<<4 | uint32(d)
	}
	return v, nil
}

// decodeThrottled decodes the get_throttled word.
func decodeThrottled(raw uint32) protocol.Throttle {
	now := raw
	occ := raw >> thrOccurredShift
	return protocol.Throttle{
		Raw:                   raw,
		Undervoltage:          now&thrUndervoltage != 0,
		FreqCapped:            now&thrFreqCapped != 0,
		Throttled:             now&thrThrottled != 0,
		SoftTempLimit:         now&thrSoftTempLimit != 0,
		UndervoltageOccurred:  occ&thrUndervoltage != 0,
		FreqCappedOccurred:    occ&thrFreqCapped != 0,
		ThrottledOccurred:     occ&thrThrottled != 0,
		SoftTempLimitOccurred: occ&thrSoftTempLimit != 0,
	}
}

// parseAlarm parses a hwmon alarm attribute: "0" or "1".
func parseAlarm(data []byte) (bool, error) {
	switch f, _ := nextField(data); string(f) {
	case "0":
		return false, nil
	case "1":
		return true, nil
	}
	return false, errors.New("malformed alarm")
}
