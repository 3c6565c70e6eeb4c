package serve

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/place/links"
)

var linkWall = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// TestLinksSurviveARestart: the table saved to its file is what a new
// scheduler's table holds after loading it; a missing file is no error.
func TestLinksSurviveARestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "links.json")
	fresh := links.NewTable()
	if kept, _, err := loadLinks(fresh, path, linkWall, 0); err != nil || kept != 0 || fresh.Len() != 0 {
		t.Fatalf("no file: kept %d, %v", kept, err)
	}
	tb := links.NewTable()
	tb.ObserveRTT("pi-a", 12*time.Millisecond, time.Second)
	tb.ObserveWANRTT(90*time.Millisecond, time.Second)
	if _, err := saveLinks(tb, path, linkWall, time.Second); err != nil {
		t.Fatal(err)
	}
	kept, dropped, err := loadLinks(fresh, path, linkWall.Add(5*time.Second), 0)
	if err != nil || kept != 1 || dropped != 0 {
		t.Fatalf("kept %d, dropped %d, %v", kept, dropped, err)
	}
	if e, _ := fresh.Get("pi-a"); e.RTT != 12*time.Millisecond || e.RTTSamples != 1 {
		t.Errorf("pi-a after the restart: %+v", e)
	}
	if w, ok := fresh.WAN(); !ok || w.RTT != 90*time.Millisecond {
		t.Errorf("WAN after the restart: %+v", w)
	}
}

// TestCorruptLinksFile: a file that is not a valid table is a clear error
// naming the file, and the table stays as it was (the configured links).
func TestCorruptLinksFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"garbage":      "\x00\xffnot json",
		"truncated":    `{"v":1,"nodes":{"pi-a":{"rtt_ns":5000`,
		"out of range": `{"v":1,"nodes":{"pi-a":{"rtt_ns":-5,"rtt_samples":3,"at":"2026-12-06T12:00:00Z"}}}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		tb := links.NewTable()
		tb.ObserveRTT("pi-b", time.Millisecond, 0)
		_, _, err := loadLinks(tb, path, linkWall, 0)
		if !errors.Is(err, links.ErrSaved) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want ErrSaved naming %s", name, err, path)
		}
		if _, ok := tb.Get("pi-b"); !ok || tb.Len() != 1 {
			t.Errorf("%s: the table changed", name)
		}
	}
}

// TestSchedulerStartsOverACorruptLinksFile: a scheduler whose links file
// is garbage starts and stops cleanly; having measured nothing, it leaves
// the file for the operator to look at.
func TestSchedulerStartsOverACorruptLinksFile(t *testing.T) {
	t.Parallel()
	var cfg config.Config
	_, stop := startServe(t, map[string]string{}, func(c *config.Config) {
		if err := os.WriteFile(c.LinksFile(), []byte("{{{"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg = *c
	})
	stop()
	b, err := os.ReadFile(cfg.LinksFile())
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "{{{" {
		t.Fatalf("a scheduler that measured nothing rewrote the file: %q", b)
	}
}

// TestLinksGoToTheRegionAndBack: with ha, what one scheduler measured is
// saved to the region's bucket as well as to its own file, and a successor
// on another machine (no file of its own) places with it.
func TestLinksGoToTheRegionAndBack(t *testing.T) {
	t.Parallel()
	b := haBlobs(t)
	scheduler := func() *scheduler {
		cfg := config.Default()
		cfg.Tasks.Dir = filepath.Join(t.TempDir(), "tasks")
		if err := os.MkdirAll(cfg.Tasks.Dir, 0o700); err != nil {
			t.Fatal(err)
		}
		return &scheduler{log: slog.New(slog.DiscardHandler), cfg: cfg, links: links.NewTable(), epoch: time.Now()}
	}
	a := scheduler()
	a.replica = b
	a.links.ObserveRTT("pi-a", 12*time.Millisecond, a.monotonic())
	a.saveLinksIfChanged()
	if a.linksSaved != a.links.Gen() {
		t.Fatal("the estimates are not saved")
	}

	succ := scheduler()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	succ.restoreRegionLinks(ctx, b)
	if e, ok := succ.links.Get("pi-a"); !ok || e.RTT != 12*time.Millisecond {
		t.Fatalf("the successor's estimate of pi-a: %+v, %v; want the 12 ms its predecessor measured", e, ok)
	}
}
