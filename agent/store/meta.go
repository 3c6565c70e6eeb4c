package store

import (
	"fmt"
	"time"
)

// counters are the outbox's loss counters, kept in m/counters and updated
// in the same transaction as the deletions they count.
type counters struct {
	DroppedMetrics uint64 // metrics dropped, oldest first or for age
	Downsampled    uint64 // metrics removed by downsampling
	Corrupt        uint64 // records that could not be read back, removed
}

const countersFormat = 1

func (c counters) encode() []byte {
	e := newEncoder(countersFormat, 24)
	e.u64(c.DroppedMetrics)
	e.u64(c.Downsampled)
	e.u64(c.Corrupt)
	return e.finish()
}

func decodeCounters(value []byte) (counters, error) {
	d := newDecoder("counters", value, countersFormat)
	c := counters{DroppedMetrics: d.count(), Downsampled: d.count(), Corrupt: d.count()}
	return c, d.done()
}

func (c *counters) add(o counters) {
	c.DroppedMetrics += o.DroppedMetrics
	c.Downsampled += o.Downsampled
	c.Corrupt += o.Corrupt
}

// session is the m/session record: written at every open and at Close.
type session struct {
	Opens    uint64
	BootID   string
	OpenedAt time.Time
	Clean    bool // Close ran to its end
}

const sessionFormat = 1

func (s session) encode() []byte {
	e := newEncoder(sessionFormat, len(s.BootID)+24)
	e.u64(s.Opens)
	e.str(s.BootID)
	e.time(s.OpenedAt)
	var clean byte
	if s.Clean {
		clean = 1
	}
	e.byte(clean)
	return e.finish()
}

func decodeSession(value []byte) (session, error) {
	d := newDecoder("session", value, sessionFormat)
	s := session{Opens: d.u64(), BootID: d.str(64), OpenedAt: d.time()}
	clean := d.byte()
	if err := d.done(); err != nil {
		return session{}, err
	}
	if clean > 1 {
		d.fail("clean flag %d", clean)
		return session{}, d.err
	}
	s.Clean = clean == 1
	return s, nil
}

// Info describes the store and the agent's previous run.
type Info struct {
	ID string // the store's id: protocol.Header.Store
	// Opens counts the opens of this store, this one included.
	Opens uint64
	// PreviousBoot is the boot id of the previous open ("" for a new
	// store); PreviousClean says that run closed the store.
	PreviousBoot  string
	PreviousClean bool
	// ValueLogInUse: the store was written before blobs and holds values
	// in Badger's value log, where a deleted one can come back; migrating
	// it at this Open was refused (no room on the disk) or failed, and is
	// tried again at the next (migrate.go).
	ValueLogInUse bool
}

func checkID(id string) error {
	if len(id) != 16 {
		return fmt.Errorf("%w: store id %q", errCorruptValue, id)
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("%w: store id %q", errCorruptValue, id)
		}
	}
	return nil
}
