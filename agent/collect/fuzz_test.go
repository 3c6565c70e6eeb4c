package collect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/roundtrip"
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

// inMetrics checks that what a parser read, put in a report, is one the
// scheduler accepts and one that survives the round trip.
func inMetrics(t *testing.T, set func(*protocol.Metrics)) {
	t.Helper()
	m := protocol.Metrics{Header: fuzzHeader(1), Mem: protocol.Mem{Total: 1, Used: 1, Percent: 100}}
	set(&m)
	if err := m.Validate(); err != nil {
		t.Fatalf("a parsed value makes a report the scheduler refuses: %v", err)
	}
	roundtrip.JSON(t, m, protocol.DecodeMetrics)
}

// inBirth is inMetrics for a birth's facts.
func inBirth(t *testing.T, set func(*protocol.Facts)) {
	t.Helper()
	f := protocol.Facts{Arch: "arm64", Cores: 4, Tier: protocol.TierEdge}
	set(&f)
	st := protocol.NodeStatus{Header: fuzzHeader(0), State: protocol.StateOnline, Conn: 1, Facts: &f}
	if err := st.Validate(); err != nil {
		t.Fatalf("a parsed value makes a birth the scheduler refuses: %v", err)
	}
	roundtrip.JSON(t, st, protocol.DecodeNodeStatus)
}

func fuzzHeader(seq uint64) protocol.Header {
	return protocol.Header{V: protocol.Version, Node: "pi-a", Instance: "i", Seq: seq, TS: time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)}
}

func FuzzThrottle(f *testing.F) {
	addSeeds(f, "sys/devices/platform/soc/soc:firmware/get_throttled")
	addSeeds(f, "sys/class/hwmon/hwmon1/in0_lcrit_alarm")
	f.Fuzz(func(t *testing.T, b []byte) {
		if raw, err := parseThrottled(b); err == nil {
			th := decodeThrottled(raw)
			if th.Raw != raw {
				t.Fatal("decode lost the raw word")
			}
			inMetrics(t, func(m *protocol.Metrics) { m.Throttle = &th })
		}
		parseAlarm(b)
	})
}

func FuzzThermal(f *testing.F) {
	addSeeds(f, "sys/class/thermal/thermal_zone0/temp")
	addSeeds(f, "sys/class/thermal/thermal_zone0/type")
	addSeeds(f, "sys/class/hwmon/hwmon1/temp1_label")
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ok := parseThermalTemp(b)
		if ok && (c < -40 || c > 150) {
			t.Fatalf("implausible %v °C accepted", c)
		}
		k := sensorKey(string(b))
		if ok && k != "" {
			inMetrics(t, func(m *protocol.Metrics) { m.TempC = map[string]float64{k: c} })
		}
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
		// What parses, written back as the kernel or systemd writes it,
		// parses to the same identity.
		if id, ok := parseSerial(b); ok {
			if again, ok := parseSerial([]byte(id + "\x00")); id == "" || !ok || again != id {
				t.Fatalf("serial %q written back reads %q (%v)", id, again, ok)
			}
		}
		if id, ok := parseCPUInfoSerial(b); ok {
			if again, ok := parseCPUInfoSerial([]byte("Revision\t: c03114\nSerial\t\t: " + id + "\n")); id == "" || !ok || again != id {
				t.Fatalf("cpuinfo serial %q written back reads %q (%v)", id, again, ok)
			}
		}
		if id, ok := parseMachineID(b); ok {
			if again, ok := parseMachineID([]byte(id + "\n")); len(id) != 32 || !ok || again != id {
				t.Fatalf("machine-id %q written back reads %q (%v)", id, again, ok)
			}
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
			inBirth(t, func(f *protocol.Facts) { f.Model = m })
		}
	})
}
