package collect

import (
	"testing"
)

func TestParseThermalTemp(t *testing.T) {
	tests := []struct {
		in     string
		want   float64
		wantOK bool
	}{
		{"48686\n", 48.686, true},
		{"51121", 51.121, true},
		{"-5000\n", -5, true},
		{"-40000\n", -40, true},
		{"150000\n", 150, true},
		{"150001\n", 0, false},  // above the plausible range
		{"-40001\n", 0, false},  // below it
		{"-273150\n", 0, false}, // absolute zero: an unsupported sensor
		{"255000\n", 0, false},  // 0xff °C: a disconnected probe
		{"0\n", 0, false},       // what absent sensors read
		{"", 0, false},
		{"-\n", 0, false},
		{"48.6\n", 0, false},
		{"99999999999999999999999\n", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseThermalTemp([]byte(tt.in))
		if ok != tt.wantOK || got != tt.want {
			t.Errorf("parseThermalTemp(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestSensorKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"cpu-thermal\n", "cpu_thermal"},
		{"cpu_thermal", "cpu_thermal"},
		{"x86_pkg_temp", "x86_pkg_temp"},
		{"Package id 0", "package_id_0"},
		{"INT3400 Thermal", "int3400_thermal"},
		{"  Core 1  ", "core_1"},
		{"--odd--name--", "odd_name"},
		{"", ""},
		{"°C", "c"},
	}
	for _, tt := range tests {
		if got := sensorKey(tt.in); got != tt.want {
			t.Errorf("sensorKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
