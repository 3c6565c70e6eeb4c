package kv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// maxGCRounds bounds one collection: each round rewrites at most one
// value-log file, and a device should not spend minutes on it.
const maxGCRounds = 8

// Run collects value-log garbage every profile.GCInterval until ctx ends or
// the store is closed; it returns nil then. It returns an error only if a
// collection or a compaction on demand panicked (a damaged value log or
// table: the next Open checks them). Errors of a collection are logged and
// retried at the next interval.
func (d *DB) Run(ctx context.Context) error {
	if !d.enter() {
		return ErrClosed
	}
	defer d.runs.Done()
	t := time.NewTicker(d.profile.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.stop:
			return nil
		case err := <-d.fault:
			return err
		case <-t.C:
		}
		d.passes.Add(1)
		if _, err := d.collect(ctx); err != nil {
			var pe *gcPanic
			if errors.As(err, &pe) {
				return err
			}
			d.log.Warn("value-log garbage collection failed", "err", err)
		}
	}
}

// CollectGarbage rewrites value-log files while one holds at least
// profile.GCDiscardRatio of garbage, and returns how many it rewrote.
func (d *DB) CollectGarbage(ctx context.Context) (int, error) {
	if !d.enter() {
		return 0, ErrClosed
	}
	defer d.runs.Done()
	return d.collect(ctx)
}

// enter registers a caller that Close must wait for.
func (d *DB) enter() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.runs.Add(1)
	return true
}

type gcPanic struct{ v any }

func (p *gcPanic) Error() string {
	return fmt.Sprintf("value-log garbage collection panicked: %v", p.v)
}

func (d *DB) collect(ctx context.Context) (rewritten int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &gcPanic{v: r}
		}
	}()
	start := time.Now()
	defer func() {
		if rewritten > 0 {
			d.log.Debug("value log collected", "files", rewritten, "took", time.Since(start))
		}
	}()
	for range maxGCRounds {
		select {
		case <-ctx.Done():
			return rewritten, nil
		case <-d.stop:
			return rewritten, nil
		default:
		}
		err := d.bdb.RunValueLogGC(d.profile.GCDiscardRatio)
		switch {
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return rewritten, nil
		case err != nil:
			return rewritten, fmt.Errorf("value-log garbage collection: %w", err)
		}
		rewritten++
	}
	return rewritten, nil
}
