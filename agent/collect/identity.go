package collect

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// IdentitySource says where a machine identity was read.
type IdentitySource string

// Sources of a machine identity, in the order MachineIdentity tries them.
const (
	// IdentityDeviceTreeSerial is the board serial in the device tree
	// (<proc>/device-tree/serial-number): Raspberry Pi and most ARM boards.
	IdentityDeviceTreeSerial IdentitySource = "device-tree-serial"
	// IdentityCPUInfoSerial is the "Serial" line of <proc>/cpuinfo: the
	// same number on a Raspberry Pi running an older kernel.
	IdentityCPUInfoSerial IdentitySource = "cpuinfo-serial"
	// IdentityMachineID is systemd's <etc>/machine-id, made at install (or
	// first boot) time: a re-flashed SD card gets a new one.
	IdentityMachineID IdentitySource = "machine-id"
	// IdentityDBusMachineID is D-Bus's <var>/lib/dbus/machine-id, for
	// systems without systemd.
	IdentityDBusMachineID IdentitySource = "dbus-machine-id"
)

// Identity is a stable identifier of the machine, from which the agent
// derives a node id when none is configured.
type Identity struct {
	ID     string         // lower case: hex for a serial or a machine-id
	Source IdentitySource // where ID was read
}

// ErrNoIdentity is returned by MachineIdentity when no source has one.
var ErrNoIdentity = errors.New("no board serial or machine-id found")

// MachineIdentity returns the machine's identity: the board serial when the
// board has one (it survives re-flashing), else the OS's machine-id. Only
// the roots of opts are used.
func MachineIdentity(opts Options) (Identity, error) {
	o := opts
	o.ensureDefaults()
	sources := []struct {
		src   IdentitySource
		path  string
		parse func([]byte) (string, bool)
	}{
		{IdentityDeviceTreeSerial, filepath.Join(o.ProcRoot, "device-tree/serial-number"), parseSerial},
		{IdentityCPUInfoSerial, filepath.Join(o.ProcRoot, "cpuinfo"), parseCPUInfoSerial},
		{IdentityMachineID, filepath.Join(o.EtcRoot, "machine-id"), parseMachineID},
		{IdentityDBusMachineID, filepath.Join(o.VarRoot, "lib/dbus/machine-id"), parseMachineID},
	}
	var errs []error
	for _, s := range sources {
		b, err := readSmall(s.path)
		if err != nil {
			errs = append(errs, err) // e.g. permission: try the next source
			continue
		}
		if id, ok := s.parse(b); ok {
			return Identity{ID: id, Source: s.src}, nil
		}
	}
	if len(errs) > 0 {
		return Identity{}, fmt.Errorf("%w: %w", ErrNoIdentity, errors.Join(errs...))
	}
	return Identity{}, ErrNoIdentity
}

// parseSerial parses a device-tree serial-number, a NUL-terminated string
// ("10000000a1b2c3d4\x00"). It is absent (ok false) when empty or all
// zeros, as on boards that do not program it.
func parseSerial(b []byte) (string, bool) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return validSerial(string(trimValue(b)))
}

// parseCPUInfoSerial finds the "Serial" line of /proc/cpuinfo, which the
// Raspberry Pi kernels print after the processors:
//
//	Revision	: c03114
//	Serial		: 10000000a1b2c3d4
//	Model		: Raspberry Pi 4 Model B Rev 1.4
func parseCPUInfoSerial(b []byte) (string, bool) {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		k, v, ok := cutColon(line)
		if ok && string(bytes.TrimSpace(k)) == "Serial" {
			return validSerial(string(bytes.TrimSpace(v)))
		}
	}
	return "", false
}

func validSerial(s string) (string, bool) {
	if s == "" || len(s) > 64 || strings.Trim(s, "0") == "" {
		return "", false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f {
			return "", false
		}
	}
	return strings.ToLower(s), true
}

// parseMachineID parses machine-id(5): 32 lower-case hex digits and a
// newline. systemd writes "uninitialized" until first boot completes; that,
// and all zeros, are not an identity.
func parseMachineID(b []byte) (string, bool) {
	s := strings.ToLower(string(trimValue(b)))
	if len(s) != 32 || strings.Trim(s, "0") == "" {
		return "", false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", false
		}
	}
	return s, true
}
