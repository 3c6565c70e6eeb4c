package uplink

import (
	"context"
	"errors"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

// ErrNoStore is NoStore's answer to Add: the agent's store is not open.
var ErrNoStore = errors.New("uplink: the store is not open")

// NoStore is the Outbox of an agent whose store is not open yet (its
// disk is full at start): it holds nothing and takes nothing, and births
// carry no store and seq 0. Attach gives the uplink the store's outbox.
func NoStore() Outbox { return noStore{} }

type noStore struct{}

func (noStore) Add(context.Context, Kind, func(uint64) (string, []byte, error)) (Record, error) {
	return Record{}, ErrNoStore
}
func (noStore) Pending(uint64, int) ([]Record, error) { return nil, nil }
func (noStore) Ack(uint64) error                      { return ErrNoStore }
func (noStore) LastSeq() uint64                       { return 0 }
func (noStore) PendingFrom() uint64                   { return 0 }

// Attach gives an uplink made with NoStore its store's outbox, named
// storeID, and the store's recovery (nil: none): delivery starts, and a
// birth with the stream's position goes out. It may be called once.
func (u *Uplink) Attach(ob Outbox, storeID string, rec *protocol.Recovery) {
	if _, detached := u.box.Load().ob.(noStore); !detached {
		panic("uplink: Attach on an uplink that has its outbox")
	}
	u.box.Store(&attachment{ob: ob, store: storeID, recovery: rec})
	close(u.ready)
	if u.sess.Connected() { // else the connect's birth says it
		u.requestBirth()
	}
}

// requestBirth asks Run for a birth, unless one is pending.
func (u *Uplink) requestBirth() {
	select {
	case u.rebirth <- struct{}{}:
	default:
	}
}

// watchHealth publishes a birth whenever the agent's health differs from
// the latest birth's, and every heartbeat while a flag is set. Ticks are
// on the monotonic clock.
func (u *Uplink) watchHealth(ctx context.Context) {
	if u.opts.Health == nil {
		return
	}
	t := time.NewTicker(u.opts.HealthPoll)
	defer t.Stop()
	var flaggedSince time.Time // when the latest birth with a flag was asked for
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := u.currentHealth()
		sent := u.health.Load()
		switch {
		case sent == nil: // no birth yet: the first says it
		case *sent != h:
			u.log.Info("health changed: publishing a birth", "disk_full", h.DiskFull)
			u.requestBirth()
			flaggedSince = time.Now()
		case h != (protocol.Health{}) && time.Since(flaggedSince) >= u.opts.Heartbeat:
			u.requestBirth()
			flaggedSince = time.Now()
		}
	}
}
