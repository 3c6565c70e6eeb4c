package serve

import (
	"context"
	"time"

	"github.com/tether-edge/tether/pkg/blob"
)

// The scheduler's blob store is collected every blobGCEvery: a blob no task
// refers to — an upload never submitted, an output a result listed but its
// task no longer holds, a transfer abandoned half-way — is deleted once its
// file is blobGrace old, and with blobs.retention the blobs of tasks that
// ended longer ago than that go too. A deleted blob's charge to its node's
// share is given back.
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
	for _, id := range gone {
		if !s.blobStore.Has(id) && s.blobStore.Written(id) == 0 {
			s.pulls.shares.refund(id)
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
