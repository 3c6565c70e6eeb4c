package collect

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseSerial(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"10000000a1b2c3d4\x00", "10000000a1b2c3d4", true},
		{"00000000ABCDEF01\x00", "00000000abcdef01", true},
		{"0000000000000000\x00", "", false}, // not programmed
		{"\x00", "", false},
		{"", "", false},
		{"bad serial\x00", "", false},
	}
	for _, tt := range tests {
		got, ok := parseSerial([]byte(tt.in))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseSerial(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestParseCPUInfoSerial(t *testing.T) {
	pi := "processor\t: 0\nBogoMIPS\t: 108.00\n\nRevision\t: c03114\nSerial\t\t: 10000000a1b2c3d4\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
	tests := []struct {
		name   string
		in     string
		want   string
		wantOK bool
	}{
		{"Pi 4", pi, "10000000a1b2c3d4", true},
		{"Pi with an unprogrammed serial", "Serial\t\t: 0000000000000000\n", "", false},
		{"x86: no serial", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Core(TM) i3-7100U\n", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		got, ok := parseCPUInfoSerial([]byte(tt.in))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%s: parseCPUInfoSerial = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestParseMachineID(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"5c8e1f2a9b3d4e6f8a0b1c2d3e4f5a6b\n", "5c8e1f2a9b3d4e6f8a0b1c2d3e4f5a6b", true},
		{"5C8E1F2A9B3D4E6F8A0B1C2D3E4F5A6B", "5c8e1f2a9b3d4e6f8a0b1c2d3e4f5a6b", true},
		{"uninitialized\n", "", false},
		{"00000000000000000000000000000000\n", "", false},
		{"5c8e1f2a9b3d4e6f8a0b1c2d3e4f5a6\n", "", false}, // 31 digits
		{"5c8e1f2a-9b3d-4e6f-8a0b-1c2d3e4f\n", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := parseMachineID([]byte(tt.in))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseMachineID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestMachineIdentity(t *testing.T) {
	rm := func(rels ...string) func(t *testing.T, root string) {
		return func(t *testing.T, root string) {
			for _, rel := range rels {
				if err := os.RemoveAll(filepath.Join(root, rel)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	tests := []struct {
		name    string
		tree    string
		prepare func(t *testing.T, root string)
		want    Identity
		wantErr error
	}{
		{
			name: "Pi: device-tree serial",
			tree: "pi4", prepare: rm(),
			want: Identity{"10000000a1b2c3d4", IdentityDeviceTreeSerial},
		},
		{
			name: "Pi, old kernel: cpuinfo serial",
			tree: "pi4", prepare: rm("proc/device-tree"),
			want: Identity{"10000000a1b2c3d4", IdentityCPUInfoSerial},
		},
		{
			name: "Pi, serial not programmed: machine-id",
			tree: "pi4",
			prepare: func(t *testing.T, root string) {
				writeFile(t, root, "proc/device-tree/serial-number", "0000000000000000\x00")
				writeFile(t, root, "proc/cpuinfo", "Serial\t\t: 0000000000000000\n")
			},
			want: Identity{"5c8e1f2a9b3d4e6f8a0b1c2d3e4f5a6b", IdentityMachineID},
		},
		{
			name: "x86: machine-id",
			tree: "x86", prepare: rm(),
			want: Identity{"e1d2c3b4a5968778695a4b3c2d1e0f9a", IdentityMachineID},
		},
		{
			name: "no systemd: D-Bus machine-id",
			tree: "x86",
			prepare: func(t *testing.T, root string) {
				rm("etc/machine-id")(t, root)
				writeFile(t, root, "var/lib/dbus/machine-id", "0123456789abcdef0123456789abcdef\n")
			},
			want: Identity{"0123456789abcdef0123456789abcdef", IdentityDBusMachineID},
		},
		{
			name: "first boot: machine-id uninitialized",
			tree: "x86",
			prepare: func(t *testing.T, root string) {
				writeFile(t, root, "etc/machine-id", "uninitialized\n")
			},
			wantErr: ErrNoIdentity,
		},
		{
			name: "nothing at all",
			tree: "x86", prepare: rm("proc", "etc"),
			wantErr: ErrNoIdentity,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyTree(t, tt.tree)
			tt.prepare(t, root)
			got, err := MachineIdentity(fixtureOptions(root, newFakeClock()))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("MachineIdentity = %+v, want %+v", got, tt.want)
			}
		})
	}
}
