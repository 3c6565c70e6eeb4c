package collect

import (
	"strings"
	"testing"
)

func TestArchName(t *testing.T) {
	tests := []struct{ goarch, goarm, want string }{
		{"arm64", "", "arm64"},
		{"amd64", "", "amd64"},
		{"riscv64", "", "riscv64"},
		{"arm", "7", "armv7"},
		{"arm", "6", "armv6"},
		{"arm", "7,hardfloat", "armv7"},
		{"arm", "6,softfloat", "armv6"},
		{"arm", "", "arm"},
	}
	for _, tt := range tests {
		if got := archName(tt.goarch, tt.goarm); got != tt.want {
			t.Errorf("archName(%q, %q) = %q, want %q", tt.goarch, tt.goarm, got, tt.want)
		}
	}
}

func TestParseModel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Raspberry Pi 4 Model B Rev 1.4\x00", "Raspberry Pi 4 Model B Rev 1.4"},
		{"Raspberry Pi Zero 2 W Rev 1.0\x00", "Raspberry Pi Zero 2 W Rev 1.0"},
		{"Raspberry Pi 5 Model B Rev 1.0", "Raspberry Pi 5 Model B Rev 1.0"}, // no NUL
		{"Board\x00junk after the NUL", "Board"},
		{"  Padded\n\x00", "Padded"},
		{"Bell\a\x00", "Bell"},
		{"\x00", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := parseModel([]byte(tt.in)); got != tt.want {
			t.Errorf("parseModel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseDMIProductName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"NUC7i3BNH\n", "NUC7i3BNH"},
		{"ThinkCentre M720q\n", "ThinkCentre M720q"},
		{"To Be Filled By O.E.M.\n", ""},
		{"System Product Name\n", ""},
		{"Default string\n", ""},
		{"\n", ""},
	}
	for _, tt := range tests {
		if got := parseDMIProductName([]byte(tt.in)); got != tt.want {
			t.Errorf("parseDMIProductName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPlatformName(t *testing.T) {
	tests := []struct{ platform, version, want string }{
		{"debian", "12.7", "debian 12.7"},
		{"raspbian", "12.7", "raspbian 12.7"},
		{"ubuntu", "24.04", "ubuntu 24.04"},
		{"arch", "", "arch"},
		{"", "12.7", ""},
	}
	for _, tt := range tests {
		if got := platformName(tt.platform, tt.version); got != tt.want {
			t.Errorf("platformName(%q, %q) = %q, want %q", tt.platform, tt.version, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"longer", 3, "lon"},
		{"héllo", 2, "h"}, // é is two bytes: not split
		{strings.Repeat("x", 300), 256, strings.Repeat("x", 256)},
	}
	for _, tt := range tests {
		if got := truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
