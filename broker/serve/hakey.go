package serve

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"

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
			return nil, fmt.Errorf("tasks.signing_key_file %s: %w; refusing to act: remove the key file from this scheduler "+
				"(it then signs with the region's key) or put the region's key in it", file, err)
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
