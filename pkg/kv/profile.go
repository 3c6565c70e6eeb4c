package kv

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Profile sizes a Badger store for one kind of machine. Device and Server
// return the two Tether uses; a caller may adjust a copy (tests shrink the
// GC interval) but Validate must still pass.
type Profile struct {
	Name string

	// MemTableSize is the skiplist size at which a memtable is frozen and
	// flushed to an L0 table. Each memtable lives in a Go-heap arena of
	// about 1.3 × MemTableSize (Badger adds room for one maximal write
	// batch: 15% of the size, plus the same again in skiplist nodes), and
	// its write-ahead log is an mmap of 2 × MemTableSize.
	MemTableSize int64
	// NumMemtables is how many memtables may exist at once: the active one
	// and those waiting to be flushed. Writes stall when all are full.
	NumMemtables int
	// BaseTableSize is the size of the tables compactions write; a table
	// builder holds 2 × BaseTableSize (rounded up to a power of two) on the
	// heap while it works, and Badger pools up to 8 idle builders' buffers
	// (freeing one every couple of seconds).
	//
	// In a 32-bit process it must be at least MemTableSize: Badger's table
	// builder takes its memory from ristretto's z.Allocator, which on
	// 32-bit platforms starts over at the beginning of its first buffer
	// when it needs a second one (z/allocator.go Allocate stores
	// uint64((bufIdx+1)<<32), an int shifted by 32: 0). The blocks written
	// first are overwritten and the table is silently corrupt. A memtable
	// flush builds one table of the whole memtable, so the first buffer
	// must hold it: 2 × BaseTableSize ≥ 2 × MemTableSize covers the
	// memtable plus the batch that overfilled it (15%) plus the space a
	// block wastes when an entry outgrows it. Compactions cut their
	// tables at 95% of the table size and stay inside too.
	BaseTableSize int64
	// TableSizeMultiplier: each level's tables are this many times bigger
	// than the level above's.
	TableSizeMultiplier int
	// BaseLevelSize is the target size of the first level below L0; each
	// further level is 10 × bigger.
	BaseLevelSize int64
	// NumLevelZeroTables triggers a compaction of L0; at
	// NumLevelZeroTablesStall tables, writes wait for compaction.
	NumLevelZeroTables      int
	NumLevelZeroTablesStall int
	// ValueThreshold: values at least this long go to the value log, the
	// rest stay inside the LSM tree. At most 15% of MemTableSize (Badger
	// refuses a bigger one: a write batch must fit a memtable).
	ValueThreshold int64
	// ValueLogFileSize is where a value-log file is rotated. The active
	// file is mmapped at 2 × this size: Badger's default (1 GiB, mapped as
	// 2 GiB) cannot be mapped by a 32-bit process (badger#1229).
	ValueLogFileSize int64
	// BlockCacheSize is the Go-heap cache of decoded table blocks; 0 reads
	// every block straight from the table's mmap. It must be set when
	// Compress is.
	BlockCacheSize int64
	// IndexCacheSize bounds the heap used for table indexes and bloom
	// filters. 0 keeps every index where it is: in the table's mmap, since
	// Tether's tables are not encrypted (only decrypted indexes are copied
	// to the heap).
	IndexCacheSize int64
	// Compress enables Snappy compression of table blocks.
	Compress bool
	// NumCompactors is the number of Badger's compaction goroutines: 0 or
	// at least 2 (Badger refuses 1). Each wakes every 50 ms, work or not
	// (levels.go runCompactor's fixed ticker): two wake an idle process 40
	// times a second, which cost the agent ~0.5% of a 2-vCPU EPYC core.
	// With 0, CompactDelay must be set: the DB compacts by itself.
	NumCompactors int
	// CompactDelay, with NumCompactors 0, turns on compaction on demand
	// (compact.go): one goroutine of the DB's, asleep until a write is
	// signalled, compacts the tree this long after it if a level is over
	// its target. It is at most one look per CompactDelay while writes go
	// on, none while the store is idle. 0 with NumCompactors ≥ 2.
	CompactDelay time.Duration
	// CompactL0OnClose compacts L0 into L1 during Close.
	CompactL0OnClose bool
	// CloseTimeout bounds Close (0: 30 s). Badger's Close retries a
	// memtable flush that fails — a directory removed under the process,
	// a dead SD card — once a second, forever; past this Close gives up
	// with an error, so a process can still exit on SIGTERM.
	CloseTimeout time.Duration

	// VerifyOnOpen checks every table block's checksum before Badger opens
	// the store (see Open); without it only table indexes are checked.
	VerifyOnOpen bool
	// KeepQuarantined is how many damaged stores moved aside are kept
	// (newest first); older ones are deleted so they cannot fill the disk.
	// 0 keeps none.
	KeepQuarantined int
	// MaxIncompleteOpens: after this many opens in a row, in one boot,
	// that never finished (the process died inside Open), the next open
	// is tried in a child process first (probe.go), and the store moved
	// aside only if that child crashes inside Open (a fault Go cannot
	// recover from); a store whose process was killed there is opened.
	// Opens cut by a power cut do not count.
	MaxIncompleteOpens int
	// GCInterval is how often Run collects value-log garbage;
	// GCDiscardRatio is the share of a value-log file that must be garbage
	// before the file is rewritten.
	GCInterval     time.Duration
	GCDiscardRatio float64
}

// Device is the profile of a constrained edge device: a Raspberry Pi Zero 2 W
// (512 MB of RAM, an SD card) running armv6/armv7 in a 2 GiB address space.
//
// Memory budget (measured by BenchmarkDeviceFootprint, see docs/durability.md):
//
//	memtables        2 × 1.3 MiB heap  arena of MemTableSize 1 MiB + room for one batch; 2 at most
//	table builders   3 × 2 MiB heap    a flush and two compactions at most, each 2 × BaseTableSize;
//	                                   Badger pools idle ones and frees one per idle 2 s
//	block cache      0                 blocks are read from the mmap (page cache, reclaimable)
//	index cache      0                 indexes and blooms stay in the mmap
//	WAL mmaps        3 × 2 MiB virtual 2 × MemTableSize each; resident only where written
//	value log mmap   8 MiB virtual     active file at 2 × 4 MiB; older files at their size
//	DISCARD mmap     1 MiB virtual     value-log GC statistics
//	goroutines       ~11               compactor on demand, flusher, writer, GC waiter, watchers
//
// Wake-ups while idle (each costs the scheduler far more than the work):
// Badger's allocator pool every 2 s, its size and cache monitors every
// minute, value-log GC every GCInterval; compaction only after writes
// (CompactDelay; Badger's own compactors would wake 40 times a second).
//
// Measured: 2.4 MiB of Go heap idle with the store open, 4.4–8.6 MiB right
// after a burst of writes (builders pooled), peaks near 16 MiB with garbage
// before a GC; about 15 MiB of address space plus the tables.
func Device() Profile {
	return Profile{
		Name:         "device",
		MemTableSize: 1 << 20,
		// One active memtable and one being flushed: a third would only
		// buy burst absorption the group commit already provides.
		NumMemtables:            2,
		BaseTableSize:           1 << 20, // = MemTableSize: see BaseTableSize
		TableSizeMultiplier:     1,       // deeper tables would need bigger builders
		BaseLevelSize:           4 << 20,
		NumLevelZeroTables:      2,
		NumLevelZeroTablesStall: 8,
		// Metrics reports and task events are 0.3–4 KiB and stay in the LSM
		// tree, written once to the WAL and once per compaction; only big
		// checkpoints go to the value log.
		ValueThreshold: 16 << 10,
		// The agent keeps values of ValueThreshold or more in files of
		// their own (agent/store's blobs), so its value log holds little
		// beyond its header; every file is allocated whole at creation
		// (2 × this: see OpenBytes), so it is kept small.
		ValueLogFileSize: 1 << 20,
		BlockCacheSize:   0,
		IndexCacheSize:   0,
		// Compression would need a block cache on the heap; the records
		// are short-lived and most bytes written are the WAL, which Badger
		// never compresses.
		Compress: false,
		// Compaction on demand: 1 s lets a rotated memtable's flush land
		// before the look, and gathers a second of writes into one look.
		NumCompactors: 0,
		CompactDelay:  time.Second,
		// A shutdown must be quick (systemd's stop timeout, or a battery
		// running out); compaction resumes after the next open.
		CompactL0OnClose:   false,
		VerifyOnOpen:       true,
		KeepQuarantined:    1,
		MaxIncompleteOpens: 10,
		GCInterval:         10 * time.Minute,
		GCDiscardRatio:     0.5,
	}
}

// Server is the profile of the scheduler's task store on a regional VM.
func Server() Profile {
	return Profile{
		Name:                    "server",
		MemTableSize:            16 << 20,
		NumMemtables:            3,
		BaseTableSize:           4 << 20,
		TableSizeMultiplier:     2,
		BaseLevelSize:           16 << 20,
		NumLevelZeroTables:      4,
		NumLevelZeroTablesStall: 12,
		ValueThreshold:          64 << 10,
		ValueLogFileSize:        128 << 20,
		BlockCacheSize:          32 << 20,
		IndexCacheSize:          0,
		Compress:                true,
		NumCompactors:           2,
		CompactL0OnClose:        false,
		VerifyOnOpen:            false,
		KeepQuarantined:         3,
		MaxIncompleteOpens:      10,
		GCInterval:              5 * time.Minute,
		GCDiscardRatio:          0.5,
	}
}

// Validate reports a profile Badger would refuse or mis-handle.
func (p Profile) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(p.MemTableSize >= 1<<20, "MemTableSize %d: at least 1 MiB", p.MemTableSize)
	check(p.NumMemtables >= 1, "NumMemtables %d: at least 1", p.NumMemtables)
	check(p.BaseTableSize >= 64<<10, "BaseTableSize %d: at least 64 KiB", p.BaseTableSize)
	check(strconv.IntSize == 64 || p.fitsTableBuilder32(),
		"BaseTableSize %d: at least MemTableSize (%d) in a 32-bit process", p.BaseTableSize, p.MemTableSize)
	check(p.TableSizeMultiplier >= 1, "TableSizeMultiplier %d: at least 1", p.TableSizeMultiplier)
	check(p.BaseLevelSize >= p.BaseTableSize, "BaseLevelSize %d: at least BaseTableSize", p.BaseLevelSize)
	check(p.NumLevelZeroTables >= 1 && p.NumLevelZeroTablesStall > p.NumLevelZeroTables,
		"NumLevelZeroTables %d, NumLevelZeroTablesStall %d: at least 1, and the stall above it",
		p.NumLevelZeroTables, p.NumLevelZeroTablesStall)
	check(p.ValueThreshold >= 1 && p.ValueThreshold <= p.MemTableSize*15/100 && p.ValueThreshold <= 1<<20,
		"ValueThreshold %d: between 1 and min(1 MiB, 15%% of MemTableSize)", p.ValueThreshold)
	check(p.ValueLogFileSize >= 1<<20 && p.ValueLogFileSize < 1<<30,
		"ValueLogFileSize %d: at least 1 MiB and below 1 GiB (it is mapped twice over)", p.ValueLogFileSize)
	check(p.BlockCacheSize >= 0 && p.IndexCacheSize >= 0, "cache sizes cannot be negative")
	check(!p.Compress || p.BlockCacheSize > 0, "Compress needs a BlockCacheSize")
	check(p.NumCompactors == 0 || p.NumCompactors >= 2, "NumCompactors %d: 0 or at least 2", p.NumCompactors)
	check(p.CompactDelay >= 0, "CompactDelay %v: cannot be negative", p.CompactDelay)
	check(p.NumCompactors > 0 || p.CompactDelay > 0,
		"NumCompactors 0 and CompactDelay 0: nothing would compact the tree (writes stall after NumLevelZeroTablesStall flushes); set CompactDelay")
	check(p.NumCompactors == 0 || p.CompactDelay == 0,
		"NumCompactors %d and CompactDelay %v: Badger's compactors and compaction on demand would compete; set one", p.NumCompactors, p.CompactDelay)
	check(p.KeepQuarantined >= 0, "KeepQuarantined %d: cannot be negative", p.KeepQuarantined)
	check(p.MaxIncompleteOpens >= 1, "MaxIncompleteOpens %d: at least 1", p.MaxIncompleteOpens)
	check(p.GCInterval > 0, "GCInterval %v: must be positive", p.GCInterval)
	check(p.GCDiscardRatio > 0 && p.GCDiscardRatio < 1, "GCDiscardRatio %v: between 0 and 1", p.GCDiscardRatio)
	if len(errs) > 0 {
		return fmt.Errorf("store profile %q: %w", p.Name, errors.Join(errs...))
	}
	return nil
}

// fitsTableBuilder32 reports whether a memtable flush fits the first
// buffer of Badger's table builder (see BaseTableSize).
func (p Profile) fitsTableBuilder32() bool { return p.BaseTableSize >= p.MemTableSize }

// OpenBytes is the disk space Badger allocates when it opens a store: a
// new WAL (2 × MemTableSize), a new value-log file (2 ×
// ValueLogFileSize) and, the first time, the 1 MiB DISCARD file. Every
// file Badger writes through an mmap is allocated whole when it is
// created (Tether's patch of ristretto's z.OpenMmapFile), so a full disk
// is an error there, never a fault when a page is written later.
func (p Profile) OpenBytes() int64 {
	return 2*p.MemTableSize + 2*p.ValueLogFileSize + 1<<20
}

// MappedBytes estimates the address space the store maps besides its
// tables: every memtable's WAL, the active value-log file and the DISCARD
// file. A 32-bit process must fit this, its tables and its heap in 2–3 GiB.
func (p Profile) MappedBytes() int64 {
	return int64(p.NumMemtables+1)*2*p.MemTableSize + 2*p.ValueLogFileSize + 1<<20
}

// badgerOptions turns the profile into Badger's options for dir.
func (p Profile) badgerOptions(dir string, log *slog.Logger) badger.Options {
	compression := options.None
	if p.Compress {
		compression = options.Snappy
	}
	o := badger.DefaultOptions(dir).
		// Every commit is durable before Commit returns: Badger msyncs the
		// value log, then writes the entries to the memtable's WAL and
		// msyncs it (value.go write, db.go writeToLSM). Callers group
		// their writes into few transactions; see docs/durability.md.
		WithSyncWrites(true).
		WithNumVersionsToKeep(1).
		WithLogger(newBadgerLogger(log)).
		WithMetricsEnabled(false). // expvar globals, read by nobody
		WithNumGoroutines(1).      // only the Stream framework uses it
		WithMemTableSize(p.MemTableSize).
		WithNumMemtables(p.NumMemtables).
		WithBaseTableSize(p.BaseTableSize).
		WithBaseLevelSize(p.BaseLevelSize).
		WithNumLevelZeroTables(p.NumLevelZeroTables).
		WithNumLevelZeroTablesStall(p.NumLevelZeroTablesStall).
		WithValueThreshold(p.ValueThreshold).
		WithValueLogFileSize(p.ValueLogFileSize).
		WithBlockCacheSize(p.BlockCacheSize).
		WithIndexCacheSize(p.IndexCacheSize).
		WithCompression(compression).
		WithNumCompactors(p.NumCompactors).
		WithCompactL0OnClose(p.CompactL0OnClose).
		// Tether's writes are serialised by its own commit path, and read
		// transactions never write: conflict detection would only keep a
		// list of every committed key in memory.
		WithDetectConflicts(false).
		// Open's preflight verifies tables before Badger sees them (see
		// preflight.go); after that, each block is checked when it is read
		// and each value-log entry when its value is read, so damage shows
		// up as an error rather than wrong bytes.
		WithChecksumVerificationMode(options.OnBlockRead).
		WithVerifyValueChecksum(true)
	o.TableSizeMultiplier = p.TableSizeMultiplier // no With method
	return o
}
