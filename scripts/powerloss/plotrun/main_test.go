package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPointsFollowTheBoots: STORE lines are numbered by the boot they came
// in; a boot cut before its store opened has none; other lines are not
// points. The plots are written.
func TestPointsFollowTheBoots(t *testing.T) {
	console := strings.Join([]string{
		"[    0.1] Linux version 6.1",
		"TETHER-PL-INIT BOOTED",
		"TETHER-PL OPENED recovered=0 next=1",
		"TETHER-PL STORE disk=5242880 live=0 open_ms=210",
		"TETHER-PL COMMIT 1",
		"TETHER-PL-INIT BOOTED", // cut before the store opened
		"TETHER-PL-INIT BOOTED",
		"TETHER-PL OPENED recovered=0 next=2",
		"TETHER-PL STORE disk=6291456 live=1048576 open_ms=444",
		"TETHER-PL STORE disk=garbage",
	}, "\n") + "\n"
	pts, err := points(strings.NewReader(console))
	if err != nil {
		t.Fatal(err)
	}
	want := []point{{boot: 0, disk: 5, live: 0, open: 210}, {boot: 2, disk: 6, live: 1, open: 444}}
	if len(pts) != len(want) || pts[0] != want[0] || pts[1] != want[1] {
		t.Fatalf("points %+v, want %+v", pts, want)
	}
	out := filepath.Join(t.TempDir(), "run")
	if err := draw(pts, out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{out + "-size.png", out + "-open.png"} {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}
