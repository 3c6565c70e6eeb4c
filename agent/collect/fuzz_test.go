package collect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Tether's own parsers (the rest is gopsutil's) read what the kernel and
// the firmware write, but a fuzzer keeps them from panicking on what a
// broken or future kernel might. Seeds are the fixture files.

func addSeeds(f *testing.F, rel string) {
	for _, tree := range []string{"pi4", "x86", "pi4.next", "x86.next"} {
		if b, err := os.ReadFile(filepath.Join("testdata", tree, rel)); err == nil {
			f.Add(b)
		}
	}
}

func FuzzThrottle(f *testing.F) {
	addSeeds(f, "sys/devices/platform/soc/soc:firmware/get_throttled")
	addSeeds(f, "sys/class/hwmon/hwmon1/in0_lcrit_alarm")
	f.Fuzz(func(t *testing.T, b []byte) {
		if raw, err := parseThrottled(b); err == nil && decodeThrottled(raw).Raw != raw {
			t.Fatal("decode lost the raw word")
		}
		parseAlarm(b)
	})
}

func FuzzThermal(f *testing.F) {
	addSeeds(f, "sys/class/thermal/thermal_zone0/temp")
	addSeeds(f, "sys/class/thermal/thermal_zone0/type")
	addSeeds(f, "sys/class/hwmon/hwmon1/temp1_label")
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, ok := parseThermalTemp(b); ok && (c < -40 || c > 150) {
			t.Fatalf("implausible %v °C accepted", c)
		}
		k := sensorKey(string(b))
		for i, c := range []byte(k) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' && i > 0 && i < len(k)-1) {
				t.Fatalf("sensor key %q", k)
			}
		}
	})
}

func FuzzIdentity(f *testing.F) {
	addSeeds(f, "proc/device-tree/serial-number")
	addSeeds(f, "proc/cpuinfo")
	addSeeds(f, "etc/machine-id")
	f.Fuzz(func(t *testing.T, b []byte) {
		if id, ok := parseSerial(b); ok && id == "" {
			t.Fatal("an empty serial accepted")
		}
		if id, ok := parseCPUInfoSerial(b); ok && id == "" {
			t.Fatal("an empty serial accepted")
		}
		if id, ok := parseMachineID(b); ok && len(id) != 32 {
			t.Fatalf("machine-id %q accepted", id)
		}
	})
}

func FuzzModel(f *testing.F) {
	addSeeds(f, "proc/device-tree/model")
	addSeeds(f, "sys/class/dmi/id/product_name")
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range []string{parseModel(b), parseDMIProductName(b)} {
			if !utf8.ValidString(m) || strings.ContainsFunc(m, unicode.IsControl) {
				t.Fatalf("model %q", m)
			}
		}
	})
}
