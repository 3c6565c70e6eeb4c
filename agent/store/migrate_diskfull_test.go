package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tether-edge/tether/pkg/kv"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestMigrationRefusedWithoutRoom: with less free space than a second copy
// of the store needs, Open does not start the migration: the store opens
// as it was, says so (Info.ValueLogInUse), takes writes, and its health
// flag reads the disk; the next Open with room migrates it.
func TestMigrationRefusedWithoutRoom(t *testing.T) {
	for _, tc := range []struct {
		name     string
		free     int64 // bytes the filesystem reports free
		diskFull bool
	}{
		{"below what a copy needs", 17 << 20, false}, // above the 16 MiB reserve, below copy + Badger's files + reserve
		{"below the reserve", 8 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, legacy)
			want := writeLegacyStore(t, h)
			want.Stats.Oldest = want.Stats.Oldest.UTC()
			upgrade(&h.opts)
			free := tc.free
			h.opts.freeBytes = func(string) (int64, error) { return free, nil }
			h.opts.migrateHook = func(step string) { t.Errorf("migration step %s taken without room", step) }
			h.reopen()
			if !h.s.Info().ValueLogInUse || !h.s.DB().ValueLogInUse() {
				t.Fatal("the store does not say its values are still in Badger's value log")
			}
			if h.s.DiskFull() != tc.diskFull {
				t.Errorf("DiskFull() = %v with %d bytes free", h.s.DiskFull(), free)
			}
			diffContent(t, "content", want, contentOf(t, h.s))
			if exists(h.dir + ".rebuild") {
				t.Error("a rebuild directory left beside the store")
			}
			blobs := 0
			if !tc.diskFull {
				// Written as this version writes: a blob beside the old
				// store's value log, which the migration links in.
				mustAppend(t, h.s, KindTaskEvent, sized("tether/v1/n/tasks/x/status", 20<<10))
				if blobs = len(blobFiles(t, h.dir)); blobs != 1 {
					t.Fatalf("%d blob files after a large record", blobs)
				}
				want = contentOf(t, h.s)
				want.Stats.Oldest = want.Stats.Oldest.UTC()
			}

			free = 1 << 40
			h.opts.migrateHook = nil
			h.reopen()
			if h.s.Info().ValueLogInUse || h.s.DB().ValueLogInUse() {
				t.Fatal("not migrated once there is room")
			}
			diffContent(t, "content after the migration", want, contentOf(t, h.s))
			if got := len(blobFiles(t, h.dir)); got != 26+blobs {
				t.Errorf("%d blob files after the migration, want %d", got, 26+blobs)
			}
		})
	}
}

// TestMigrationOnAFullDisk: the disk fills while the migration writes the
// new store (the free space looked enough, and another process took it):
// the migration fails and removes what it wrote, the old store opens
// whole and takes writes, and once space is freed the next Open migrates.
// Needs root (a tmpfs).
func TestMigrationOnAFullDisk(t *testing.T) {
	mnt := testenv.MountTmpfs(t, "32m")
	h := &harness{t: t, dir: filepath.Join(mnt, "store"), opts: testOptions(t)}
	legacy(&h.opts)
	h.open()
	t.Cleanup(func() {
		if h.s != nil {
			_ = h.s.Close()
		}
	})
	writeLegacyStore(t, h)
	for range 150 { // 3 MiB more than the room left below
		mustAppend(t, h.s, KindTaskEvent, sized("tether/v1/n/tasks/x/status", 20<<10))
	}
	want := contentOf(t, h.s)
	want.Stats.Oldest = want.Stats.Oldest.UTC()
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	h.s = nil
	// Room for the old store's open, the new store's Badger files and
	// some blobs, not for every value.
	filler := fillTo(t, mnt, 2*kv.Device().OpenBytes()+300<<10)
	upgrade(&h.opts)
	h.opts.DiskReserve = 64 << 10
	h.opts.freeBytes = func(dir string) (int64, error) {
		free, err := freeBytes(dir)
		return free + 64<<20, err // what the look before the migration saw
	}
	var steps []string
	h.opts.migrateHook = func(step string) { steps = append(steps, step) }
	h.open()
	if !h.s.Info().ValueLogInUse {
		t.Fatalf("migrated on a full disk (steps %v)", steps)
	}
	if len(steps) > 1 || exists(h.dir+".rebuild") {
		t.Errorf("steps %v; a rebuild directory left: %v", steps, exists(h.dir+".rebuild"))
	}
	diffContent(t, "content after the failed migration", want, contentOf(t, h.s))
	mustAppend(t, h.s, KindTaskEvent, sized("tether/v1/n/tasks/x/status", 100))
	want = contentOf(t, h.s)
	want.Stats.Oldest = want.Stats.Oldest.UTC()

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	h.opts.freeBytes = nil
	h.opts.ensureDefaults()
	h.reopen()
	if h.s.Info().ValueLogInUse || h.s.DB().ValueLogInUse() {
		t.Fatal("not migrated once space was freed")
	}
	diffContent(t, "content after the migration", want, contentOf(t, h.s))
}
