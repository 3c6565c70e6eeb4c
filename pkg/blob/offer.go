package blob

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrRefused wraps the reason a peer gave for not taking an offered blob.
var ErrRefused = errors.New("blob offer refused")

// Offer asks peer to take blob id, which the store must hold, and returns
// once the peer says it holds it: the sender of an upload keeps its
// endpoint running meanwhile, since the peer fetches the blob with wants.
// The offer is sent again every Retry until an answer comes (a lost offer,
// a peer that restarted); a peer that is already fetching ignores the
// repeats. A peer that will not take it answers with a reason, returned
// wrapping ErrRefused.
func (e *Endpoint) Offer(ctx context.Context, peer string, id ID) error {
	if !e.opts.Store.Has(id) {
		return fmt.Errorf("offer %s: %w", id, ErrNotFound)
	}
	frame, err := (&Message{Type: TypeOffer, ID: id}).Encode()
	if err != nil {
		return err
	}
	key := fetchKey{peer, id}
	in := make(chan Message, 1)
	e.mu.Lock()
	if e.offers[key] != nil {
		e.mu.Unlock()
		return fmt.Errorf("%w: offer of %s to %q", ErrBusy, id, peer)
	}
	e.offers[key] = in
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.offers, key)
		e.mu.Unlock()
	}()
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-retry.C:
			if err := e.opts.Send(ctx, peer, 1, frame); err != nil {
				e.opts.Logger.Debug("blob offer not sent", "peer", peer, "blob", id.String(), "err", err)
			}
			retry.Reset(e.opts.Retry)
		case m := <-in:
			if m.Type == TypeHave {
				return nil
			}
			return fmt.Errorf("%w: %s by %q: %s", ErrRefused, id, peer, m.Reason)
		}
	}
}

// Have tells peer that the store holds blob id: the answer to its offer.
func (e *Endpoint) Have(ctx context.Context, peer string, id ID) error {
	frame, err := (&Message{Type: TypeHave, ID: id}).Encode()
	if err != nil {
		return err
	}
	return e.opts.Send(ctx, peer, 1, frame)
}

// Refuse tells peer that its offer of blob id is not taken, and why (a
// short reason; no more than MaxReason bytes are sent).
func (e *Endpoint) Refuse(ctx context.Context, peer string, id ID, reason string) error {
	return e.missing(ctx, peer, id, clipReason(reason))
}

// clipReason cuts reason to MaxReason bytes on a rune boundary.
func clipReason(reason string) string {
	if len(reason) <= MaxReason {
		return reason
	}
	cut := MaxReason
	for cut > 0 && reason[cut]&0xC0 == 0x80 {
		cut--
	}
	return reason[:cut]
}
