package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tether-edge/tether/pkg/protocol"
)

// maxFactLen is the protocol's limit on a string in a message.
const maxFactLen = 256

// readFacts reads the node's static properties. gopsutil gives the CPU
// count and the memory size, both required, and through host.Info the
// hostname, platform, kernel and boot time; the model and the boot id are
// Tether's own. A missing optional fact leaves its field empty.
//
// host.Info is the expensive call that runs once: when <etc>/lsb-release
// is absent, as on Debian and Raspberry Pi OS, it runs /usr/bin/lsb_release
// (a Python script: tens of milliseconds on a server, about a second on a
// Pi Zero; gopsutil gives it 3 s). It also counts the processes and looks
// for virtualisation, which Tether does not use. Parts of it ignore the
// roots: the hostname is os.Hostname, the kernel uname(2), lsb_release and
// raspi-config are looked for under /usr/bin of the running system, and the
// boot time comes from <proc>/uptime and the clock instead of <proc>/stat
// when gopsutil finds itself in a container (/.dockerenv, cached in a
// package variable for the life of the process).
func (c *Collector) readFacts(ctx context.Context) (protocol.Facts, error) {
	o := c.opts
	cores, err := c.sys.logicalCores(ctx)
	if err != nil {
		return protocol.Facts{}, fmt.Errorf("count cpus: %w", err)
	}
	vm, err := c.readMem(ctx)
	if err != nil {
		return protocol.Facts{}, err
	}
	f := protocol.Facts{
		OS:       runtime.GOOS,
		Arch:     buildArch(),
		Cores:    max(cores, 1),
		MemTotal: vm.Total,
	}

	var errs []error
	if h, err := c.sys.hostInfo(ctx); err != nil {
		errs = append(errs, err)
	} else {
		f.Hostname = printable(h.Hostname)
		f.Platform = printable(platformName(h.Platform, h.PlatformVersion))
		f.Kernel = printable(h.KernelVersion)
		// A boot time the protocol refuses (a clock set wildly wrong)
		// is left out rather than have every birth refused.
		if bt := time.Unix(int64(h.BootTime), 0).UTC(); h.BootTime > 0 && h.BootTime <= math.MaxInt64 && protocol.CheckTime("boot_time", bt) == nil {
			f.BootTime = bt
		}
	}

	model, err := readSmall(filepath.Join(o.ProcRoot, "device-tree/model"))
	f.Model = parseModel(model)
	if f.Model == "" {
		// No device tree: a PC. Its firmware names the product, sometimes.
		dmi, _ := readSmall(filepath.Join(o.SysRoot, "class/dmi/id/product_name"))
		f.Model = parseDMIProductName(dmi)
	}
	if err != nil {
		errs = append(errs, err)
	}
	// gopsutil reads boot_id only as a last resort for its HostID.
	bootID, err := readSmall(filepath.Join(o.ProcRoot, "sys/kernel/random/boot_id"))
	f.BootID = printable(string(trimValue(bootID)))
	if err != nil {
		errs = append(errs, err)
	}

	for _, s := range []*string{&f.Hostname, &f.Model, &f.Platform, &f.Kernel, &f.BootID} {
		*s = truncate(*s, maxFactLen)
	}
	if len(errs) > 0 {
		c.log.Warn("some facts are unknown", "err", errors.Join(errs...))
	}
	return f, nil
}

// buildArch is the architecture the agent was built for: GOARCH, and for
// 32-bit ARM the GOARM level recorded in the build info, as in "armv7".
func buildArch() string {
	goarm := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" {
				goarm = s.Value
			}
		}
	}
	return archName(runtime.GOARCH, goarm)
}

// archName combines GOARCH and GOARM ("7", or "7,softfloat" since Go 1.22).
func archName(goarch, goarm string) string {
	if goarch != "arm" {
		return goarch
	}
	level, _, _ := strings.Cut(goarm, ",")
	if level == "" {
		return "arm"
	}
	return "armv" + level
}

// parseModel parses the device tree's model, a NUL-terminated string:
// "Raspberry Pi 4 Model B Rev 1.4\x00".
func parseModel(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return printable(string(trimValue(b)))
}

// parseDMIProductName parses /sys/class/dmi/id/product_name, ignoring the
// placeholders that board vendors leave in it.
func parseDMIProductName(b []byte) string {
	s := printable(string(trimValue(b)))
	switch strings.ToLower(s) {
	case "", "to be filled by o.e.m.", "system product name", "default string", "not specified", "none", "unknown":
		return ""
	}
	return s
}

// platformName is gopsutil's platform and its version, "debian 12.7" or
// "ubuntu 24.04".
func platformName(platform, version string) string {
	switch {
	case platform == "":
		return ""
	case version == "":
		return platform
	}
	return platform + " " + version
}

// printable drops control characters (C0, DEL and C1) and invalid UTF-8.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
