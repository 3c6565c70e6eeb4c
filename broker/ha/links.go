package ha

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// The region's measured links (broker/place/links, saved as the scheduler
// saves them to its links file) are kept in the blob bucket as one object
// beside the blobs, so a successor places with what its predecessor
// measured rather than starting from the configured links. Its name is no
// blob id: List, and so the blob collection, never see it.

// linksObject is the object holding the region's link estimates.
const linksObject = "tether-links"

// PutLinks replaces the region's saved link estimates with data, checked
// against the lease first: a deposed scheduler does not overwrite its
// successor's (a write racing the lease's loss can still land; estimates
// age out, and the next save replaces it).
func (b *Blobs) PutLinks(ctx context.Context, data []byte) error {
	if err := b.t.check(ctx); err != nil {
		return fmt.Errorf("ha: link estimates not saved: %w", err)
	}
	ctx, cancel := b.termContext(ctx)
	defer cancel()
	if _, err := b.obs.PutBytes(ctx, linksObject, data); err != nil {
		return fmt.Errorf("ha: link estimates not saved: %w", err)
	}
	return nil
}

// Links returns the region's saved link estimates; nil when none were
// saved.
func (b *Blobs) Links(ctx context.Context) ([]byte, error) {
	var data []byte
	err := inAttempts(ctx, b.t.r.log, "link estimates", readAttempt, func(ctx context.Context) (err error) {
		data, err = b.obs.GetBytes(ctx, linksObject)
		return err
	})
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ha: link estimates: %w", err)
	}
	return data, nil
}
