package serve

import (
	"context"
	"slices"
	"time"

	"github.com/tether-edge/tether/pkg/blob"
)

// The scheduler's blob store is collected every blobGCEvery: a blob no task
// refers to — an upload never submitted, an output a result listed but its
// task no longer holds, a transfer abandoned half-way — is deleted once its
// file is blobGrace old, and with blobs.retention the blobs of tasks that
// ended longer ago than that go too. A deleted blob's charge to its node's
// (or operator's) share is given back, and an operator's record of it
// removed.
//
// Variables so that a test can shorten them.
var (
	blobGCEvery = time.Hour
	// blobGrace keeps a new blob until what will refer to it has: an
	// operator uploads before submitting, and a task's outputs arrive
	// with its final status.
	blobGrace = time.Hour
)

// blobGCLoop collects the blob store every blobGCEvery until ctx ends.
func (s *scheduler) blobGCLoop(ctx context.Context) {
	t := time.NewTicker(blobGCEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.collectBlobs(ctx, time.Now())
		}
	}
}

// collectReplica deletes from the region's blob bucket (under ha) the
// blobs the local collection deleted, and those the bucket stored before
// before that no task refers to; it stops at the first delete the lease
// refuses. A blob it deletes is added to gone.
func (s *scheduler) collectReplica(ctx context.Context, refs map[blob.ID]struct{}, gone []blob.ID, before time.Time) []blob.ID {
	if s.replica == nil {
		return gone
	}
	del := map[blob.ID]bool{}
	for _, id := range gone {
		del[id] = true
	}
	for _, id := range s.inReplica.storedBefore(before) {
		if _, ok := refs[id]; !ok {
			del[id] = true
		}
	}
	n := 0
	for id := range del {
		if !s.inReplica.has(id) {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, lookupTimeout*5)
		err := s.replica.Delete(dctx, id)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("blob bucket collection stopped", "deleted", n, "blob", id.String(), "err", err)
			}
			break
		}
		s.inReplica.remove(id)
		n++
		if !slices.Contains(gone, id) {
			gone = append(gone, id)
		}
	}
	if n > 0 {
		s.log.Info("the region's blob bucket collected", "deleted", n)
	}
	return gone
}

// collectBlobs deletes the blobs nothing keeps at now (wall clock: the
// tasks' times and the files' are stored ones).
func (s *scheduler) collectBlobs(ctx context.Context, now time.Time) {
	var since time.Time
	if r := s.cfg.Blobs.Retention; r > 0 {
		since = now.Add(-r)
	}
	refs, err := s.tasks.Referenced(ctx, since)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("blob store not collected", "err", err)
		}
		return
	}
	var gone []blob.ID
	n, freed, err := s.blobStore.GCBefore(func(id blob.ID) bool {
		if _, ok := refs[id]; ok {
			return true
		}
		gone = append(gone, id)
		return false
	}, now.Add(-blobGrace))
	gone = s.collectReplica(ctx, refs, gone, now.Add(-blobGrace))
	for _, id := range gone {
		if !s.blobStore.Has(id) && s.blobStore.Written(id) == 0 && !s.inReplica.has(id) {
			s.refund(id)
		}
	}
	if err != nil {
		s.log.Warn("blob store collection stopped", "deleted", n, "freed_bytes", freed, "err", err)
		return
	}
	if n > 0 {
		used, quota := s.blobStore.Usage()
		s.log.Info("blob store collected", "deleted", n, "freed_bytes", freed, "referenced", len(refs), "used_bytes", used, "quota_bytes", quota)
	}
}
