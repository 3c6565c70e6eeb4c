package store

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/tether-edge/tether/pkg/kv"
)

// ErrDiskFull is returned for a write the store refused because its
// filesystem's free space is below the reserve (Options.DiskReserve):
// metrics below the reserve, every write below a quarter of it. Nothing
// was stored and no seq was spent, except when the space ran out between
// Append's look and the commit's (then the seq is a gap).
var ErrDiskFull = errors.New("agent store: disk full")

// ErrWedged is what every write returns, and Run, once another process
// took the disk's last bytes between the store's look and Badger's write
// and Badger could not create its next write-ahead log (kv.ErrWedged):
// what was committed is durable; only opening the store again, with room
// on the disk, takes writes again.
var ErrWedged = kv.ErrWedged

// Disk levels, from the filesystem's free space at the last look.
const (
	diskOK   int32 = iota // at least DiskReserve free
	diskLow               // below DiskReserve: metrics are refused
	diskFull              // below DiskReserve/4: every write is refused
)

// diskGuard keeps Badger from running its filesystem out of space. Badger
// writes through mmaps of files it created sparse (the WAL at 2 ×
// MemTableSize, the value log at 2 × ValueLogFileSize, tables at their
// size): a write to a page the filesystem has no block for is SIGBUS,
// which kills the process with no error to handle. So the store stops
// growing while the reserve still covers what Badger may yet touch: the
// rest of the current WAL, a memtable flush (one table of about
// MemTableSize) and a compaction's output.
type diskGuard struct {
	dir     string
	reserve int64
	free    func(string) (int64, error)
	log     *slog.Logger

	level atomic.Int32 // diskOK, diskLow or diskFull at the last look
	bytes atomic.Int64 // free bytes at the last look
	onLow func()       // called when a look finds the level fallen from diskOK; may be nil
}

// check looks at the free space now and returns the level, logging a
// change. A failing statfs leaves the level as it was.
func (g *diskGuard) check() int32 {
	free, err := g.free(g.dir)
	if err != nil {
		g.log.Warn("free disk space unknown", "err", err)
		return g.level.Load()
	}
	g.bytes.Store(free)
	level := diskOK
	switch {
	case free < g.reserve/4:
		level = diskFull
	case free < g.reserve:
		level = diskLow
	}
	if old := g.level.Swap(level); old != level {
		if old == diskOK && g.onLow != nil {
			g.onLow()
		}
		log := g.log
		if inodes, ok := freeInodes(g.dir); ok && inodes*bytesPerInode <= free {
			// The inodes are what runs out (freeBytes): say so.
			log = log.With("free_inodes", inodes)
		}
		switch level {
		case diskOK:
			log.Warn("disk space is back: the store takes every write again", "free_bytes", free, "reserve_bytes", g.reserve)
		case diskLow:
			log.Error("disk almost full: metrics are not stored until space is freed; task events still are",
				"free_bytes", free, "reserve_bytes", g.reserve)
		case diskFull:
			log.Error("disk full: the store refuses every write until space is freed",
				"free_bytes", free, "reserve_bytes", g.reserve)
		}
	}
	return level
}

// refuses reports whether a write of kind is refused at level.
func refuses(level int32, kind Kind) bool {
	return level == diskFull || level == diskLow && kind.droppable()
}

// DiskFull reports whether the store's filesystem was below the reserve at
// the last look: metrics (or, below a quarter of it, every write) are
// refused with ErrDiskFull. Run looks every DiskPoll while it is; a write
// looks before it commits.
func (s *Store) DiskFull() bool { return s.disk.level.Load() != diskOK }

// FreeBytes returns the filesystem's free bytes at the last look.
func (s *Store) FreeBytes() int64 { return s.disk.bytes.Load() }

// RoomToOpen reports whether the filesystem holding dir (before dir
// exists, its nearest existing parent) has room for Open with options o:
// at least a quarter of o.DiskReserve free, what the store needs to take
// any write, and at least what Badger allocates as it opens
// (Profile.OpenBytes); free is the bytes free now. Open writes — its
// marker, the session record, Badger's new WAL and value-log file and a
// flush of what the last run left in its WAL — and fails on a full disk:
// an agent waits for room before it opens its store.
func RoomToOpen(dir string, o Options) (free int64, ok bool, err error) {
	o.ensureDefaults()
	for {
		if _, err := os.Stat(dir); err == nil || !errors.Is(err, os.ErrNotExist) {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	free, err = o.freeBytes(dir)
	if err != nil {
		return 0, false, err
	}
	return free, free >= max(o.DiskReserve/4, o.Profile.OpenBytes()), nil
}
