package collect

import (
	"os"
	"path/filepath"
	"testing"
)

// The parsers read what the kernel writes, but a fuzzer keeps them from
// panicking on what a broken or future kernel might. Seeds are the fixture
// files.

func addSeeds(f *testing.F, rel string) {
	for _, tree := range []string{"pi4", "x86", "pi4.next", "x86.next"} {
		if b, err := os.ReadFile(filepath.Join("testdata", tree, rel)); err == nil {
			f.Add(b)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	addSeeds(f, "proc/stat")
	f.Fuzz(func(t *testing.T, b []byte) {
		var st procStat
		if err := parseStat(b, &st); err == nil {
			prev := st
			prev.cores = append([]cpuTimes(nil), st.cores...)
			for _, p := range perCorePercent(nil, prev.cores, st.cores) {
				if p != 0 {
					t.Fatalf("a snapshot against itself reads %v%%", p)
				}
			}
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	addSeeds(f, "proc/meminfo")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMeminfo(b)
		if err != nil {
			return
		}
		mem := m.mem()
		if mem.Used > mem.Total || mem.Available > mem.Total || mem.Percent < 0 || mem.Percent > 100 {
			t.Fatalf("inconsistent memory %+v from %+v", mem, m)
		}
		if s, ok := m.swap(); ok && (s.Used > s.Total || s.Percent < 0 || s.Percent > 100) {
			t.Fatalf("inconsistent swap %+v", s)
		}
	})
}

func FuzzParseNetDev(f *testing.F) {
	addSeeds(f, "proc/net/dev")
	f.Fuzz(func(t *testing.T, b []byte) {
		cur, err := parseNetDev(b, nil)
		if err != nil {
			return
		}
		r := netRate(cur, cur, 1, func(string) bool { return true })
		if r.RxBps != 0 || r.TxBps != 0 {
			t.Fatalf("counters against themselves give %+v", r)
		}
	})
}

func FuzzParseLoadavgUptime(f *testing.F) {
	addSeeds(f, "proc/loadavg")
	addSeeds(f, "proc/uptime")
	f.Fuzz(func(t *testing.T, b []byte) {
		if l, err := parseLoadavg(b); err == nil && (l.M1 < 0 || l.M5 < 0 || l.M15 < 0) {
			t.Fatalf("negative load %+v", l)
		}
		parseUptime(b)
	})
}

func FuzzParseSysfs(f *testing.F) {
	addSeeds(f, "sys/devices/platform/soc/soc:firmware/get_throttled")
	addSeeds(f, "sys/class/thermal/thermal_zone0/temp")
	addSeeds(f, "proc/device-tree/serial-number")
	f.Fuzz(func(t *testing.T, b []byte) {
		if raw, err := parseThrottled(b); err == nil && decodeThrottled(raw).Raw != raw {
			t.Fatal("decode lost the raw word")
		}
		if c, ok := parseThermalTemp(b); ok && (c < -40 || c > 150) {
			t.Fatalf("implausible %v °C accepted", c)
		}
		parseAlarm(b)
		parseModel(b)
		parseSerial(b)
		parseCPUInfoSerial(b)
		parseMachineID(b)
		parseOSRelease(b)
	})
}
