package kv

import (
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/testenv"
)

// TestRandomCorruption damages random bytes of random files of a closed
// store (or of a crash image) and opens it: Open must neither panic nor
// fail, and a store it did not move aside must never read back a wrong
// value (a missing or unreadable one is the damage showing). The seed is
// printed; TETHER_CORRUPT_SEED replays one, TETHER_CORRUPT_N runs more.
func TestRandomCorruption(t *testing.T) {
	tpl := buildTemplate(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TETHER_CORRUPT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	n := 16 // quick in make test; docs/durability.md reports TETHER_CORRUPT_N=300
	if s := os.Getenv("TETHER_CORRUPT_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	t.Logf("seed %d (TETHER_CORRUPT_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var recovered, missingTotal, unreadableTotal int
	for i := range n {
		src := tpl.closed
		if rng.IntN(2) == 0 {
			src = tpl.crashed
		}
		dir := filepath.Join(t.TempDir(), "db")
		copyDir(t, src, dir)
		what := damageRandomly(t, rng, dir)
		db, rec, err := Open(dir, testProfile(), testenv.Logger(t, slog.LevelWarn))
		if err != nil {
			t.Fatalf("seed %d, round %d (%s): Open: %v", seed, i, what, err)
		}
		if rec != nil {
			recovered++
			t.Logf("round %d (%s): moved aside: %s", i, what, rec.Reason)
			verify(t, db.bdb, nil)
		} else {
			missing, unreadable := assertNoWrongValues(t, db.bdb, tpl.want)
			missingTotal += missing
			unreadableTotal += unreadable
			if missing+unreadable > 0 {
				t.Logf("round %d (%s): opened with %d keys missing, %d unreadable", i, what, missing, unreadable)
			}
		}
		if err := db.Close(); err != nil {
			t.Logf("round %d (%s): Close: %v", i, what, err)
		}
		if t.Failed() {
			t.Fatalf("seed %d, round %d: %s", seed, i, what)
		}
	}
	t.Logf("%d rounds: %d moved aside, %d keys missing and %d unreadable in the others",
		n, recovered, missingTotal, unreadableTotal)
}

// damageRandomly damages one file of dir and says how.
func damageRandomly(t *testing.T, rng *rand.Rand, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	name := names[rng.IntN(len(names))]
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return name + " (empty, left alone)"
	}
	off := rng.IntN(len(b))
	var what string
	switch rng.IntN(5) {
	case 0:
		k := 1 + rng.IntN(8)
		for range k {
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		}
		what = strconv.Itoa(k) + " bytes flipped"
	case 1:
		n := 1 + rng.IntN(8192)
		clear(b[off:min(off+n, len(b))])
		what = "zeroed " + strconv.Itoa(n) + " bytes at " + strconv.Itoa(off)
	case 2:
		b = b[:off]
		what = "truncated at " + strconv.Itoa(off)
	case 3:
		n := 1 + rng.IntN(4096)
		for i := off; i < min(off+n, len(b)); i++ {
			b[i] = byte(rng.Uint32())
		}
		what = "garbage " + strconv.Itoa(n) + " bytes at " + strconv.Itoa(off)
	default:
		// An entry-sized burst of 0xff: varints that claim gigabytes.
		for i := off; i < min(off+16, len(b)); i++ {
			b[i] = 0xff
		}
		what = "0xff burst at " + strconv.Itoa(off)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return name + ": " + what
}
