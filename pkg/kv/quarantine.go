package kv

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const quarantineInfix = ".corrupt-"

// quarantine moves the damaged store in dir to <dir>.corrupt-<UTC time>
// and deletes all but the newest keep such copies.
func quarantine(dir string, keep int, reason string, now time.Time, log *slog.Logger) (*Recovery, error) {
	now = now.UTC()
	base := dir + quarantineInfix + now.Format("20060102T150405Z")
	dst := base
	// Within the same second, number the copies after the newest one
	// (an older one may have been pruned: its name must not come back).
	if sibs, _ := filepath.Glob(base + "*"); len(sibs) > 0 {
		slices.SortFunc(sibs, compareQuarantined)
		_, n := splitSuffix(sibs[len(sibs)-1])
		dst = fmt.Sprintf("%s-%d", base, n+1)
	}
	if err := os.Rename(dir, dst); err != nil {
		return nil, fmt.Errorf("moving the damaged store aside (%s): %w", reason, err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return nil, fmt.Errorf("moving the damaged store aside: %w", err)
	}
	rec := &Recovery{Reason: reason, MovedTo: dst, At: now}
	removed, err := pruneQuarantined(dir, keep)
	if err != nil {
		log.Warn("old damaged stores could not be deleted", "err", err)
	}
	if slices.Contains(removed, dst) {
		rec.MovedTo = ""
	}
	log.Error("the store was damaged: moved it aside and starting a fresh one",
		"reason", reason, "moved_to", rec.MovedTo, "deleted", removed)
	return rec, nil
}

// pruneQuarantined deletes the quarantined copies of dir beyond the newest
// keep and returns their paths.
func pruneQuarantined(dir string, keep int) ([]string, error) {
	parent, name := filepath.Split(dir)
	if parent == "" {
		parent = "."
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil, err
	}
	var copies []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), name+quarantineInfix) {
			copies = append(copies, filepath.Join(parent, e.Name()))
		}
	}
	// Names sort by time: 20060102T150405Z, then its -1, -2 … siblings.
	slices.SortFunc(copies, compareQuarantined)
	if len(copies) <= keep {
		return nil, nil
	}
	old := copies[:len(copies)-keep]
	for _, p := range old {
		if err := os.RemoveAll(p); err != nil {
			return old, err
		}
	}
	return old, syncDir(parent)
}

// compareQuarantined orders quarantined copies oldest first.
func compareQuarantined(a, b string) int {
	ta, na := splitSuffix(a)
	tb, nb := splitSuffix(b)
	if c := strings.Compare(ta, tb); c != 0 {
		return c
	}
	return na - nb
}

// splitSuffix splits "…Z-3" into "…Z" and 3.
func splitSuffix(p string) (string, int) {
	i := strings.LastIndex(p, "Z-")
	if i < 0 {
		return p, 0
	}
	var n int
	if _, err := fmt.Sscanf(p[i+2:], "%d", &n); err != nil {
		return p, 0
	}
	return p[:i+1], n
}
