package collect

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tether-edge/tether/pkg/protocol"
)

// maxFactLen is the protocol's limit on a string in a message.
const maxFactLen = 256

// readFacts reads the node's static properties. Only /proc/stat and
// /proc/meminfo are required; a missing optional file leaves its field empty.
func (c *Collector) readFacts() (protocol.Facts, error) {
	o := c.opts
	stat, err := os.ReadFile(filepath.Join(o.ProcRoot, "stat"))
	if err != nil {
		return protocol.Facts{}, fmt.Errorf("read cpu count: %w", err)
	}
	var st procStat
	if err := parseStat(stat, &st); err != nil {
		return protocol.Facts{}, fmt.Errorf("parse %s: %w", filepath.Join(o.ProcRoot, "stat"), err)
	}
	mi, err := os.ReadFile(filepath.Join(o.ProcRoot, "meminfo"))
	if err != nil {
		return protocol.Facts{}, fmt.Errorf("read memory size: %w", err)
	}
	m, err := parseMeminfo(mi)
	if err != nil {
		return protocol.Facts{}, fmt.Errorf("parse %s: %w", filepath.Join(o.ProcRoot, "meminfo"), err)
	}

	var errs []error
	opt := func(path string) string {
		b, err := readSmall(path)
		if err != nil {
			errs = append(errs, err)
		}
		return string(trimValue(b))
	}
	f := protocol.Facts{
		Hostname: opt(filepath.Join(o.ProcRoot, "sys/kernel/hostname")),
		OS:       runtime.GOOS,
		Arch:     buildArch(),
		Kernel:   opt(filepath.Join(o.ProcRoot, "sys/kernel/osrelease")),
		Cores:    max(len(st.cores), 1),
		MemTotal: m.total,
		BootID:   opt(filepath.Join(o.ProcRoot, "sys/kernel/random/boot_id")),
	}
	if f.Hostname == "" && o.ProcRoot == "/proc" {
		f.Hostname, _ = os.Hostname()
	}
	if st.btime > 0 {
		f.BootTime = time.Unix(int64(st.btime), 0).UTC()
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

	osr, err := readSmall(filepath.Join(o.EtcRoot, "os-release"))
	if osr == nil && err == nil {
		osr, err = readSmall(filepath.Join(o.EtcRoot, "../usr/lib/os-release"))
	}
	if err != nil {
		errs = append(errs, err)
	}
	debv, _ := readSmall(filepath.Join(o.EtcRoot, "debian_version"))
	f.Platform = platformName(parseOSRelease(osr), string(trimValue(debv)))

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

// osRelease is what Tether takes from os-release(5).
type osRelease struct {
	ID, VersionID string
}

// parseOSRelease parses os-release(5): KEY=value lines, values optionally
// quoted.
func parseOSRelease(b []byte) osRelease {
	var r osRelease
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		k, v, ok := bytes.Cut(bytes.TrimSpace(line), []byte{'='})
		if !ok {
			continue
		}
		val := unquote(string(v))
		switch string(k) {
		case "ID":
			r.ID = val
		case "VERSION_ID":
			r.VersionID = val
		}
	}
	return r
}

// unquote removes shell-style quotes: os-release values are "..." with
// backslash escapes, or '...' without.
func unquote(s string) string {
	if len(s) < 2 || (s[0] != '"' && s[0] != '\'') || s[len(s)-1] != s[0] {
		return s
	}
	q := s[0]
	s = s[1 : len(s)-1]
	if q == '"' && strings.ContainsRune(s, '\\') {
		s = strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\$`, `$`, "\\`", "`").Replace(s)
	}
	return s
}

// platformName is the distribution and its version, "debian 12.7" or
// "ubuntu 24.04". Debian and Raspberry Pi OS give only the major version in
// VERSION_ID; /etc/debian_version has the point release.
func platformName(r osRelease, debianVersion string) string {
	if r.ID == "" {
		return ""
	}
	v := r.VersionID
	if (r.ID == "debian" || r.ID == "raspbian") && debianVersion != "" &&
		debianVersion[0] >= '0' && debianVersion[0] <= '9' {
		v = debianVersion
	}
	if v == "" {
		return r.ID
	}
	return r.ID + " " + v
}

// printable drops control characters and invalid UTF-8.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == utf8.RuneError {
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
