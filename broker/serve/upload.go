package serve

import (
	"context"
	"errors"
	"time"

	"github.com/tether-edge/tether/pkg/blob"
)

// haveTimeout bounds the sending of one answer to an offer.
const haveTimeout = 10 * time.Second

// onOffer takes an operator's upload (tether-broker submit --input): the
// scheduler fetches the offered blob into its store, charged to the
// operator like a node's blobs are to the node (blobs.node_share), and
// answers have once it holds it (under ha: once the region's blob bucket
// holds it too), or missing with the reason it will not.
// Only operators upload: an offer from a node is dropped. The operator
// offers again every few seconds until it has its answer, so an offer of a
// blob being fetched already (for it or another operator) is answered
// when one comes after the fetch. It runs on the session's receive
// goroutine: it never blocks.
func (s *scheduler) onOffer(peer string, id blob.ID) {
	user, ok := blob.OperatorOf(peer)
	if !ok {
		return
	}
	answer := func(err error) {
		ctx, cancel := context.WithTimeout(s.pullCtx, haveTimeout)
		defer cancel()
		if err == nil {
			err = s.blobs.Have(ctx, peer, id)
		} else {
			err = s.blobs.Refuse(ctx, peer, id, refusal(err))
		}
		if err != nil && s.pullCtx.Err() == nil {
			s.log.Debug("answer to an upload not sent", "operator", user, "blob", id.String(), "err", err)
		}
	}
	if s.acknowledged(id) {
		go answer(nil)
		return
	}
	err := s.pull(peer, id, "upload by operator "+user, func(err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return // stopping, or the operator went away: it offers again if it is still there
		}
		answer(err)
	})
	if err != nil {
		go answer(err)
	}
}

// refusal is what an operator is told of an upload not taken: the error's
// class, not its text (which names paths and other peers).
func refusal(err error) string {
	switch {
	case errors.Is(err, errNotReplicated):
		return "not stored in the region's blob bucket (ha); try again"
	case errors.Is(err, ErrNodeShare):
		return "over the operator's share of the scheduler's blob store (blobs.node_share)"
	case errors.Is(err, blob.ErrQuota):
		return "the scheduler's blob store is full (blobs.quota)"
	case errors.Is(err, blob.ErrTooLarge):
		return "larger than the scheduler takes"
	case errors.Is(err, blob.ErrCorrupt):
		return "the bytes sent do not match the blob's id"
	case errors.Is(err, blob.ErrNotFound):
		return "the operator no longer holds it"
	}
	return "not stored at the scheduler"
}
