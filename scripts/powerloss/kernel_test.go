package powerloss

import (
	"encoding/binary"
	"testing"
)

func TestBzPayload(t *testing.T) {
	bz := make([]byte, 4096)
	copy(bz[0x202:], "HdrS")
	bz[0x1f1] = 3 // setup sectors: protected-mode code at 4*512
	binary.LittleEndian.PutUint32(bz[0x248:], 100)
	binary.LittleEndian.PutUint32(bz[0x24c:], 6)
	copy(bz[4*512+100:], "\xfd7zXZ\x00")
	p, err := bzPayload(bz)
	if err != nil || string(p) != "\xfd7zXZ\x00" {
		t.Fatalf("payload %q, %v", p, err)
	}
	binary.LittleEndian.PutUint32(bz[0x24c:], 4096)
	if _, err := bzPayload(bz); err == nil {
		t.Error("a payload past the end was accepted")
	}
	if _, err := bzPayload(make([]byte, 4096)); err == nil {
		t.Error("a file without HdrS was accepted")
	}
}

func TestNaturalLess(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"linux-image-6.1.0-9-amd64_6.1.99-1_amd64.deb", "linux-image-6.1.0-10-amd64_6.1.100-1_amd64.deb"},
		{"linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb", "linux-image-6.1.0-57-amd64_6.1.193-1_amd64.deb"},
		{"a1", "a01b"},
		{"a", "b"},
	} {
		if !naturalLess(c.a, c.b) || naturalLess(c.b, c.a) {
			t.Errorf("want %s < %s", c.a, c.b)
		}
	}
}
