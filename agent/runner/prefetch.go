package runner

import (
	"context"
	"errors"
)

// Inputs fetched ahead: while a task waits in the queue for a slot, the
// inputs of the oldest queued task that has any are fetched, one task at a
// time, so a task whose turn comes starts on data already here rather
// than holding its slot while the data travels (the scheduler may queue
// tasks on a node, placement.node_queue). A prefetch that fails is
// forgotten: the task fetches again when it starts, as without one.
//
// Run's goroutine owns prefetching and every entry's pre and preCancel; a
// worker reads its entry's pre, set before the worker started.

// prefetchNext starts fetching the inputs of the oldest queued task that
// has any and no prefetch yet, unless one is in progress.
func (r *Runner) prefetchNext() {
	if r.prefetching != nil || r.opts.Blobs == nil {
		return
	}
	for _, e := range r.queue {
		if e.pre != nil {
			continue
		}
		e.mu.Lock()
		spec := e.sv.Spec
		e.mu.Unlock()
		if len(spec.Inputs) == 0 {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		pre := make(chan struct{})
		e.pre, e.preCancel, r.prefetching = pre, cancel, e
		r.workers.Add(1)
		go func() {
			defer r.workers.Done()
			defer cancel()
			if err := r.fetchInputs(ctx, spec); err != nil && !errors.Is(err, context.Canceled) {
				r.log.Info("inputs of a queued task not fetched ahead: it fetches them when it starts", "task", e.id, "err", err)
			}
			close(pre)
			select {
			case r.prefetched <- e:
			case <-r.quit:
			}
		}()
		return
	}
}

// prefetchEnded takes the report of e's prefetch and starts the next one.
func (r *Runner) prefetchEnded(e *entry) {
	if r.prefetching == e {
		r.prefetching = nil
	}
	e.preCancel = nil
	r.prefetchNext()
}

// stopPrefetch ends e's prefetch, if one is in progress (its task was
// cancelled while queued, or the agent stops).
func (r *Runner) stopPrefetch(e *entry) {
	if e.preCancel != nil {
		e.preCancel()
	}
}

// awaitPrefetch waits for e's prefetch, if it had one, to end before its
// worker fetches (a fetch of the same blob in progress would refuse a
// second); ctx ends the wait.
func awaitPrefetch(ctx context.Context, e *entry) {
	if e.pre == nil {
		return
	}
	select {
	case <-e.pre:
	case <-ctx.Done():
	}
}
