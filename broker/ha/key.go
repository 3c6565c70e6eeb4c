package ha

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/task"
)

// The region's signing key (tether.ha.<region>.key) is the ed25519 key
// its schedulers sign assignments with, in the signing key file's format
// (taskengine.EncodeSigningKey), so a standby needs no key file of its
// own. It is written once, by the first term whose scheduler has a key
// file: the message expects the subject's last sequence to be 0, so of
// two schedulers installing different keys one is refused, and no
// scheduler can replace the key afterwards (rotation is not supported).
//
// The write is checked against the lease first (Term.check), but it is
// not fenced on the epoch as the task store's records are: a message
// expects one subject's last sequence, and the key's must be the
// subject's own. None is needed: whichever scheduler's install lands,
// every scheduler that acts afterwards reads that key, and one whose key
// file holds another refuses to act (ErrKeyMismatch).

// ErrKeyMismatch: the scheduler's configured key is not the region's.
var ErrKeyMismatch = errors.New("the configured signing key is not the region's")

// SigningKey returns the region's signing key; nil when none was
// installed.
func (r *Region) SigningKey(ctx context.Context) (ed25519.PrivateKey, error) {
	var m *jetstream.RawStreamMsg
	err := inAttempts(ctx, r.log, "signing key", readAttempt, func(ctx context.Context) (err error) {
		m, err = r.stream.GetLastMsgForSubject(ctx, r.names.key)
		return err
	})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ha: signing key: %w", err)
	}
	k, err := taskengine.ParseSigningKey(m.Data)
	if err != nil {
		return nil, fmt.Errorf("ha: the region's signing key (%s): %w", r.names.key, err)
	}
	return k, nil
}

// SigningKey returns the key this term signs with, given the scheduler's
// configured one (nil: no key file):
//
//	region's key K, configured nil     K
//	region's key K, configured K       K
//	region's key K, configured F ≠ K   ErrKeyMismatch, naming both key ids
//	no key,         configured F       F, installed as the region's
//	no key,         configured nil     nil
//
// installed says this call stored configured as the region's key (false
// too when an install went unanswered yet was stored: the key read back
// is then the configured one). An install that loses a race to another
// scheduler's reads the winner's and compares as above.
func (t *Term) SigningKey(ctx context.Context, configured ed25519.PrivateKey) (key ed25519.PrivateKey, installed bool, err error) {
	k, err := t.r.SigningKey(ctx)
	if err != nil {
		return nil, false, err
	}
	if k == nil && configured != nil {
		switch err := t.installKey(ctx, configured); {
		case err == nil:
			return configured, true, nil
		case !wrongSeq(err):
			return nil, false, err
		}
		// Another scheduler installed one first.
		if k, err = t.r.SigningKey(ctx); err != nil {
			return nil, false, err
		}
		if k == nil {
			return nil, false, errors.New("ha: signing key: the install was refused, yet the region holds no key")
		}
	}
	if k != nil && configured != nil && !k.Equal(configured) {
		return nil, false, mismatch(k, configured)
	}
	return k, false, nil
}

// CheckKey compares configured, a scheduler's key file, with the region's
// key without taking the lease: an ErrKeyMismatch naming both key ids
// when the region holds another key; nil when it holds configured
// (held true) or none yet (held false). A standby checks before it
// campaigns, and again while it waits until the region holds a key, so a
// scheduler with another key never takes the lease nor bumps the epoch.
// Term.SigningKey checks again once a term is won: a key installed
// between the last check and the win is found there.
func (r *Region) CheckKey(ctx context.Context, configured ed25519.PrivateKey) (held bool, err error) {
	k, err := r.SigningKey(ctx)
	if err != nil || k == nil {
		return false, err
	}
	if !k.Equal(configured) {
		return true, mismatch(k, configured)
	}
	return true, nil
}

// mismatch is the ErrKeyMismatch for a region holding k and a scheduler
// configured with another key.
func mismatch(k, configured ed25519.PrivateKey) error {
	return fmt.Errorf("ha: %w: the region signs with key %s, the configured key is %s; a region signs with one key",
		ErrKeyMismatch, keyID(k), keyID(configured))
}

// installKey stores k as the region's key, if the region has none and
// this term still holds it. A refusal because a key is there is wrongSeq.
func (t *Term) installKey(ctx context.Context, k ed25519.PrivateKey) error {
	pem, err := taskengine.EncodeSigningKey(k)
	if err != nil {
		return fmt.Errorf("ha: signing key: %w", err)
	}
	if err := t.check(ctx); err != nil {
		return fmt.Errorf("ha: signing key not installed: %w", err)
	}
	// An attempt unanswered may have been stored: the next one is then
	// refused (the subject is no longer empty), and SigningKey reads the
	// key back and finds it the same.
	return inAttempts(ctx, t.r.log, "signing key install", writeTimeout, func(ctx context.Context) error {
		m := nats.NewMsg(t.r.names.key)
		m.Data = pem
		expect(m, t.r.names.key, 0)
		_, err := publish(ctx, t.r.nc, []*nats.Msg{m})
		return err
	})
}

// keyID names k as agents' configuration does (task.KeyID).
func keyID(k ed25519.PrivateKey) string {
	return task.KeyID(k.Public().(ed25519.PublicKey))
}
