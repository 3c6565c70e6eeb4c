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
	// With the harness's headings, a boot cut before init printed anything
	// still counts.
	headed := strings.Join([]string{
		"=== boot 0: cut in write at 0.5 of its window",
		"  0    2.0 TETHER-PL-INIT BOOTED",
		"  0    2.5 TETHER-PL STORE disk=5242880 live=0 open_ms=210",
		"=== boot 1: cut in boot at 0.1 of its window",
		"=== boot 2: cut in write at 0.5 of its window",
		"  2    2.0 TETHER-PL-INIT BOOTED",
		"  2    2.5 TETHER-PL STORE disk=6291456 live=1048576 open_ms=444",
	}, "\n") + "\n"
	if pts, _ = points(strings.NewReader(headed)); len(pts) != 2 || pts[1].boot != 2 {
		t.Fatalf("with headings: %+v", pts)
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

// TestReplayFindsALoss: a record acknowledged in one boot and missing from
// the next boot's complete listing is counted lost by the replayed ledger.
func TestReplayFindsALoss(t *testing.T) {
	console := strings.Join([]string{
		"=== boot 0: cut in write at 0.5 of its window",
		"TETHER-PL OPENED recovered=0 next=1",
		"TETHER-PL STORE disk=5242880 live=0 open_ms=210",
		"TETHER-PL COMMIT 1",
		"TETHER-PL COMMIT 2",
		"=== boot 1: the final check",
		"TETHER-PL OPENED recovered=0 next=3",
		"TETHER-PL HAVE 1",
		"TETHER-PL STORE disk=5242880 live=100 open_ms=200",
	}, "\n") + "\n"
	st, boots, malformed, err := replay(strings.NewReader(console))
	if err != nil || boots != 2 || malformed != 0 {
		t.Fatalf("boots %d, malformed %d, %v", boots, malformed, err)
	}
	if st.Acked != 2 || st.Lost != 1 {
		t.Fatalf("acknowledged %d, lost %d; want 2 and 1", st.Acked, st.Lost)
	}
}
