package store

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tether-edge/tether/pkg/kv"
)

// Options configure a Store. The zero value works: defaults below.
type Options struct {
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // the wall clock stamped on records; nil: time.Now
	// Profile sizes Badger; the zero Profile is kv.Device().
	Profile kv.Profile

	// MaxOutboxBytes bounds the outbox (records' keys and values); past it
	// metrics are downsampled, then dropped oldest first. Default 8 MiB:
	// over two hours of 1 KiB reports a second.
	MaxOutboxBytes int64
	// MaxOutboxAge drops metrics older than this (measured on the
	// monotonic clock while the agent runs, so a clock set by NTP does not
	// age them at once). Default 24 h.
	MaxOutboxAge time.Duration
	// CommitInterval is the group-commit window: at most one durable
	// commit (two fsyncs: the value log's and the WAL's) per interval, so
	// at most 1/CommitInterval per second however many records arrive.
	// An Append after a quiet interval commits at once. Default 25 ms.
	CommitInterval time.Duration
	// AckInterval is how long acknowledgements may wait for a commit to
	// ride on before Run commits them on their own. They need not be
	// durable: a record re-sent after a crash is a duplicate the scheduler
	// drops. Every commit costs at least a 4 KiB page of the WAL written
	// (about 5 KiB measured), so longer than the agent's heartbeat lets an
	// acknowledgement ride on the next report's commit instead of taking
	// one of its own, halving an idle agent's writes. Default 2 min.
	AckInterval time.Duration
	// DiskReserve is the free space the store leaves on its filesystem:
	// below it metrics are refused (ErrDiskFull), below a quarter of it
	// every write is, so Badger never writes to a page of its mmapped
	// files the filesystem cannot back (SIGBUS). Default 16 MiB: the
	// device profile's WAL (2 MiB mapped), a memtable flush (~1 MiB), a
	// compaction's output (up to BaseLevelSize, 4 MiB) and the value log
	// a checkpoint goes to (8 MiB mapped), with room for the task events
	// still written below it.
	DiskReserve int64
	// DiskPoll is how often Run looks at the free space while it is below
	// the reserve, to take writes again once space is freed. Default 1 s.
	DiskPoll time.Duration
	// BootID is the kernel's boot id, kept in the store's session record
	// (Info) to tell a restart from a reboot.
	BootID string

	// failpoint, set by tests, is called at the named points of a commit;
	// an error it returns is the commit's.
	failpoint func(point string) error
	// elapsed, set by tests, replaces the monotonic clock records age on.
	elapsed func() time.Duration
	// forgetPerTxn, set by tests, caps the keys ForgetTask deletes per
	// transaction (0: as many as Badger takes).
	forgetPerTxn int
	// freeBytes, set by tests, replaces statfs.
	freeBytes func(dir string) (int64, error)
	// legacyValues, set by tests, writes as the store did before blobs:
	// every value to Badger (values of ValueThreshold or more to its
	// value log), and migrates nothing.
	legacyValues bool
	// migrateHook, set by tests, is called at the steps of a migration
	// (migrate.go, kv.Rebuild).
	migrateHook func(step string)
}

const (
	defaultMaxOutboxBytes = 8 << 20
	defaultMaxOutboxAge   = 24 * time.Hour
	defaultCommitInterval = 25 * time.Millisecond
	defaultAckInterval    = 2 * time.Minute
	defaultDiskReserve    = 16 << 20
	defaultDiskPoll       = time.Second
)

func (o *Options) ensureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Profile.Name == "" {
		o.Profile = kv.Device()
	}
	if o.MaxOutboxBytes == 0 {
		o.MaxOutboxBytes = defaultMaxOutboxBytes
	}
	if o.MaxOutboxAge == 0 {
		o.MaxOutboxAge = defaultMaxOutboxAge
	}
	if o.CommitInterval == 0 {
		o.CommitInterval = defaultCommitInterval
	}
	if o.AckInterval == 0 {
		o.AckInterval = defaultAckInterval
	}
	if o.DiskReserve == 0 {
		o.DiskReserve = defaultDiskReserve
	}
	if o.DiskPoll == 0 {
		o.DiskPoll = defaultDiskPoll
	}
	if o.freeBytes == nil {
		o.freeBytes = freeBytes
	}
}

// Validate reports options a store cannot work with, after defaults.
func (o Options) Validate() error {
	var errs []error
	if o.MaxOutboxBytes < 64<<10 {
		errs = append(errs, fmt.Errorf("MaxOutboxBytes %d: at least 64 KiB", o.MaxOutboxBytes))
	}
	if o.MaxOutboxAge < time.Minute {
		errs = append(errs, fmt.Errorf("MaxOutboxAge %v: at least a minute", o.MaxOutboxAge))
	}
	if o.CommitInterval < time.Millisecond || o.CommitInterval > time.Second {
		errs = append(errs, fmt.Errorf("CommitInterval %v: between 1 ms and 1 s", o.CommitInterval))
	}
	if o.AckInterval < o.CommitInterval {
		errs = append(errs, fmt.Errorf("AckInterval %v: at least CommitInterval", o.AckInterval))
	}
	if o.DiskReserve < 64<<10 {
		errs = append(errs, fmt.Errorf("DiskReserve %d: at least 64 KiB", o.DiskReserve))
	}
	if o.DiskPoll < 10*time.Millisecond || o.DiskPoll > time.Minute {
		errs = append(errs, fmt.Errorf("DiskPoll %v: between 10 ms and 1 min", o.DiskPoll))
	}
	if err := o.Profile.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("agent store: %w", errors.Join(errs...))
	}
	return nil
}
