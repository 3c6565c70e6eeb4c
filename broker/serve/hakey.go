package serve

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tether-edge/tether/broker/ha"
	"github.com/tether-edge/tether/pkg/task"
)

// signingKey returns the key this term signs with: the region's, kept in
// its replicated stream (ha.Term.SigningKey). configured is the key read
// from file (tasks.signing_key_file; nil when none is configured):
// installed as the region's if the region has none; refused, with an
// error naming both key ids, if the region has another. A standby needs
// no key file: it signs with the region's. nil, nil when neither has one.
func (l *leadership) signingKey(ctx context.Context, configured ed25519.PrivateKey, file string, log *slog.Logger) (ed25519.PrivateKey, error) {
	key, installed, err := l.term.SigningKey(ctx, configured)
	if err != nil {
		if configured != nil {
			return nil, refuseKey(file, err)
		}
		return nil, err
	}
	if key == nil {
		return nil, nil
	}
	id := task.KeyID(key.Public().(ed25519.PublicKey))
	switch {
	case installed:
		log.Info("signing key installed in the region from tasks.signing_key_file", "key", id, "file", file)
	case configured != nil:
		log.Info("signing key loaded; the region holds the same key", "key", id, "file", file)
	default:
		log.Info("signing key loaded from the region", "key", id)
	}
	return key, nil
}

// refuseKey is the error a scheduler whose key file is not the region's
// exits with.
func refuseKey(file string, err error) error {
	return fmt.Errorf("tasks.signing_key_file %s: %w; refusing to act: remove the key file from this scheduler "+
		"(it then signs with the region's key) or put the region's key in it", file, err)
}

// keyCheckEvery is how often a standby whose region holds no key yet
// reads it again (watchKey).
const keyCheckEvery = 2 * time.Second

// checkKey refuses, before the scheduler stands by, a configured key
// (from file; nil: none) that is not the region's: the scheduler then
// never takes the lease. A read that fails is logged and left to
// watchKey and to the check once a term is won.
func checkKey(ctx context.Context, region *ha.Region, configured ed25519.PrivateKey, file string, log *slog.Logger) error {
	if configured == nil {
		return nil
	}
	_, err := region.CheckKey(ctx, configured)
	if errors.Is(err, ha.ErrKeyMismatch) {
		return refuseKey(file, err)
	}
	if err != nil && ctx.Err() == nil {
		log.Warn("the region's signing key not read; read again while standing by", "err", err)
	}
	return nil
}

// watchKey reads the region's key every keyCheckEvery while the scheduler
// stands by, until the region holds one: another key installed meanwhile
// (a scheduler of the same region started at the same time with another
// file) ends the campaign through stop, with the refusal as its cause,
// before this scheduler can win the lease. The key, once installed, is
// never replaced: one match ends the watch.
func watchKey(ctx context.Context, stop context.CancelCauseFunc, region *ha.Region, configured ed25519.PrivateKey, file string, log *slog.Logger) {
	if configured == nil {
		return
	}
	t := time.NewTicker(keyCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		held, err := region.CheckKey(ctx, configured)
		switch {
		case errors.Is(err, ha.ErrKeyMismatch):
			stop(refuseKey(file, err))
			return
		case err != nil:
			if ctx.Err() == nil {
				log.Debug("the region's signing key not read; read again", "err", err)
			}
		case held:
			return
		}
	}
}
