package taskengine

import (
	"context"
	"errors"
	"time"

	"github.com/tether-edge/tether/pkg/blob"
)

// blobs calls fn with every blob t refers to: its spec's inputs and its
// result's outputs.
func (t *Task) blobs(fn func(blob.ID)) {
	for _, in := range t.Spec.Inputs {
		fn(in.Blob)
	}
	if t.Result != nil {
		for _, id := range t.Result.Outputs {
			fn(id)
		}
	}
}

// finishedPage is how many finished tasks Referenced reads at a time.
const finishedPage = 500

// Referenced returns the blobs the scheduler's tasks refer to, for the
// blob store's collection: every unfinished task's, and those of the
// finished tasks last updated at or after since (a zero since: every
// finished task's). The finished tasks are read from the store a page at
// a time, outside the engine's goroutine.
func (s *Service) Referenced(ctx context.Context, since time.Time) (map[blob.ID]struct{}, error) {
	refs := map[blob.ID]struct{}{}
	add := func(id blob.ID) { refs[id] = struct{}{} }
	done := make(chan struct{})
	s.do(func(e *Engine) {
		defer close(done)
		e.referenced(add)
	})
	select {
	case <-done:
	case <-s.stopped:
		return nil, errors.New("task service stopped")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := finishedBlobs(ctx, s.store, since, add); err != nil {
		return nil, err
	}
	return refs, nil
}

// referenced calls add with the blobs of the tasks the engine holds.
func (e *Engine) referenced(add func(blob.ID)) {
	for _, en := range e.tasks {
		en.t.blobs(add)
	}
}

// finishedBlobs calls add with the blobs of the finished tasks in st last
// updated at or after since (zero: all).
func finishedBlobs(ctx context.Context, st *Store, since time.Time, add func(blob.ID)) error {
	return eachFinished(ctx, st, func(t *Task) {
		if since.IsZero() || !t.Updated.Before(since) {
			t.blobs(add)
		}
	})
}

// eachFinished calls fn with every finished task in st, read a page at a
// time; it stops early with ctx's error.
func eachFinished(ctx context.Context, st *Store, fn func(*Task)) error {
	for after := ""; ; {
		page, err := st.FinishedAfter(after, finishedPage)
		if err != nil {
			return err
		}
		for _, t := range page {
			fn(t)
		}
		if len(page) < finishedPage {
			return nil
		}
		after = page[len(page)-1].Spec.ID
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// BlobOwners calls fn with each blob the stored tasks say a node
// produced or holds, and that node: an input held on a node (from:
// node/<id>), and a result's outputs, made on the node of the task's last
// attempt. ld is what OpenStore loaded (the unfinished tasks); the finished
// ones are read from st a page at a time. A blob may come more than once.
// Operators' uploads name no owner and are not reported.
func BlobOwners(ctx context.Context, st *Store, ld Loaded, fn func(id blob.ID, node string)) error {
	for _, t := range ld.Active {
		t.blobOwners(fn)
	}
	return eachFinished(ctx, st, func(t *Task) { t.blobOwners(fn) })
}

// blobOwners: see BlobOwners.
func (t *Task) blobOwners(fn func(blob.ID, string)) {
	for _, in := range t.Spec.Inputs {
		if n := in.FromNode(); n != "" {
			fn(in.Blob, n)
		}
	}
	if t.Result == nil || len(t.Result.Outputs) == 0 || len(t.Attempts) == 0 {
		return
	}
	node := t.Attempts[len(t.Attempts)-1].Node
	for _, id := range t.Result.Outputs {
		fn(id, node)
	}
}
