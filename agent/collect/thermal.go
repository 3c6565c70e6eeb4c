package collect

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Temperatures come from sysfs, in millidegrees Celsius:
//
//   - thermal zones, <sys>/class/thermal/thermal_zoneN/{type,temp}: the
//     Raspberry Pi's SoC sensor is thermal_zone0 of type "cpu-thermal";
//   - hwmon devices, <sys>/class/hwmon/hwmonN/{name,tempM_input,tempM_label}:
//     coretemp, k10temp, nvme and the like on x86.
//
// A thermal zone also appears as a hwmon device named after its type with
// '-' made '_' ("cpu_thermal", "acpitz"), so keys are normalised the same way
// and a hwmon sensor whose key a zone already has is the same sensor.
//
// This reader is Tether's, not gopsutil's sensors.Temperatures, which names
// the Raspberry Pi's sensor "cpu_thermal" all right (from its hwmon twin)
// but:
//
//   - finds the sensors again on every call: a glob of every hwmon
//     directory, then for each sensor its name, label, input, max and crit
//     files, five opens, where Sample reads one kept-open file. On the x86
//     fixture that is 330 µs and 330 allocations a call, more than the rest
//     of a Sample together;
//   - reads thermal zones only when no hwmon sensor exists at all, so zones
//     without a hwmon twin (x86_pkg_temp) are lost;
//   - gives two sensors one key when they share a zone type or are both
//     unlabelled (two "acpitz", a device's temp1 and temp3);
//   - reads drivetemp, whose every read is an ATA command that can spin up
//     a sleeping disk, and passes on the 0 and -273.15 °C of absent sensors.

// maxSensors bounds the sensors reported; the protocol allows 64.
const maxSensors = 64

// Plausible readings, in millidegrees. Outside this range a sensor is broken
// or unsupported (-273150, 255000); exactly 0 is what many absent sensors
// read, and a live one reading exactly 0.000 °C is improbable enough.
const (
	minMilliC = -40_000
	maxMilliC = 150_000
)

type sensor struct {
	key  string
	file kfile
}

// parseThermalTemp parses a sysfs temperature ("48686\n", millidegrees)
// into degrees Celsius; ok is false for implausible readings.
func parseThermalTemp(data []byte) (c float64, ok bool) {
	f, _ := nextField(data)
	neg := len(f) > 0 && f[0] == '-'
	if neg {
		f = f[1:]
	}
	v, ok := parseUint(f)
	if !ok || v > 1_000_000 {
		return 0, false
	}
	m := int64(v)
	if neg {
		m = -m
	}
	if m == 0 || m < minMilliC || m > maxMilliC {
		return 0, false
	}
	return float64(m) / 1000, true
}

// sensorKey turns a zone type, hwmon name or label into a key: lower case,
// every run of characters other than letters and digits made one '_'
// ("cpu-thermal" → "cpu_thermal", "Package id 0" → "package_id_0").
func sensorKey(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			under = false
		} else {
			under = true
		}
	}
	return b.String()
}

// costlyHwmon reports hwmon drivers whose temperature read costs more than a
// sample may spend: drivetemp issues an ATA command and can wake a sleeping
// disk.
func costlyHwmon(name string) bool { return name == "drivetemp" }

// discoverSensors lists the temperature sensors under sysRoot: thermal zones
// first, then hwmon sensors that are not zones seen again. It reads names
// and labels once; Sample then reads only the temperatures.
func discoverSensors(sysRoot string) []sensor {
	var out []sensor
	seen := map[string]bool{}
	add := func(key, path string) {
		if key == "" || seen[key] || len(out) >= maxSensors {
			return
		}
		seen[key] = true
		out = append(out, sensor{key: key, file: kfile{path: path}})
	}

	zones := filepath.Join(sysRoot, "class", "thermal")
	for _, n := range numbered(zones, "thermal_zone") {
		dir := filepath.Join(zones, "thermal_zone"+strconv.Itoa(n))
		typ, err := readSmall(filepath.Join(dir, "type"))
		if err != nil || len(typ) == 0 {
			continue
		}
		key := sensorKey(string(typ))
		if seen[key] { // two zones of one type, e.g. two "acpitz"
			key += "_" + strconv.Itoa(n)
		}
		add(key, filepath.Join(dir, "temp"))
	}

	hwmons := filepath.Join(sysRoot, "class", "hwmon")
	for _, n := range numbered(hwmons, "hwmon") {
		dir := filepath.Join(hwmons, "hwmon"+strconv.Itoa(n))
		nb, err := readSmall(filepath.Join(dir, "name"))
		if err != nil || len(nb) == 0 {
			continue
		}
		name := sensorKey(string(nb))
		if costlyHwmon(name) {
			continue
		}
		for _, m := range numberedInputs(dir) {
			key := name
			label, _ := readSmall(filepath.Join(dir, "temp"+strconv.Itoa(m)+"_label"))
			switch l := sensorKey(string(label)); {
			case l != "":
				key += "_" + l
			case m != 1:
				key += "_temp" + strconv.Itoa(m)
			}
			add(key, filepath.Join(dir, "temp"+strconv.Itoa(m)+"_input"))
		}
	}
	return out
}

// numbered returns N for the entries of dir named prefix+N, in order.
func numbered(dir, prefix string) []int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var ns []int
	for _, e := range entries {
		if s, ok := strings.CutPrefix(e.Name(), prefix); ok {
			if n, err := strconv.Atoi(s); err == nil && n >= 0 {
				ns = append(ns, n)
			}
		}
	}
	slices.Sort(ns)
	return ns
}

// numberedInputs returns M for the files tempM_input of a hwmon directory.
func numberedInputs(dir string) []int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var ms []int
	for _, e := range entries {
		s, ok := strings.CutPrefix(e.Name(), "temp")
		if !ok {
			continue
		}
		if s, ok = strings.CutSuffix(s, "_input"); !ok {
			continue
		}
		if m, err := strconv.Atoi(s); err == nil && m >= 0 {
			ms = append(ms, m)
		}
	}
	slices.Sort(ms)
	return ms
}

// readTemps reads every sensor into a new map; nil when none reads.
func readTemps(sensors []sensor, buf *[]byte) map[string]float64 {
	var temps map[string]float64
	for i := range sensors {
		s := &sensors[i]
		b, err := s.file.read(buf)
		if err != nil {
			// Common and harmless: iwlwifi's zone reads ENODATA while the
			// interface is down. The sensor stays; it may read next time.
			continue
		}
		c, ok := parseThermalTemp(b)
		if !ok {
			continue
		}
		if temps == nil {
			temps = make(map[string]float64, len(sensors))
		}
		temps[s.key] = c
	}
	return temps
}
