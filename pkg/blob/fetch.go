package blob

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// FetchStats describe one Fetch: what a link estimator learns from.
type FetchStats struct {
	Resumed  int64         // bytes the store already had when the fetch started
	Written  int64         // bytes this fetch stored
	Received int64         // chunk bytes that arrived, duplicates and out-of-order ones included
	Retries  int           // times it asked again after Retry passed with no chunk
	Elapsed  time.Duration // from the first want to the blob's installation (monotonic)
	First    time.Duration // from the first want to the first chunk: about one round trip
}

// ErrBusy: a fetch of the same blob from the same peer is in progress.
var ErrBusy = errors.New("blob fetch already in progress")

// fetch is one Fetch's inbox.
type fetch struct {
	in chan Message // chunks and missings, in arrival order
}

// offer queues m without blocking; false when the inbox is full.
func (f *fetch) offer(m Message) bool {
	select {
	case f.in <- m:
		return true
	default:
		return false
	}
}

// Fetch gets blob id from peer into the store, resuming from what the
// store already has of it, and returns when it is installed (verified), the
// peer says it does not hold it (an error wrapping ErrNotFound), the store
// refuses it (ErrQuota, ErrTooLarge, ErrCorrupt), or ctx ends. A lost
// connection or a partition costs no progress: after Retry with no chunk
// the fetch asks again from where its store stands, until ctx ends.
func (e *Endpoint) Fetch(ctx context.Context, peer string, id ID) (FetchStats, error) {
	var st FetchStats
	if err := id.Validate(); err != nil {
		return st, err
	}
	s := e.opts.Store
	if s.Has(id) {
		st.Resumed = id.Size
		return st, nil
	}
	if id.Size == 0 {
		_, err := s.Append(id, 0, nil)
		return st, err
	}
	key := fetchKey{peer, id}
	// The inbox holds a window of chunks plus a few late ones: a full
	// inbox drops chunks, which the next ask fetches again.
	f := &fetch{in: make(chan Message, e.opts.Window/MaxChunk+8)}
	e.mu.Lock()
	if e.fetches[key] != nil {
		e.mu.Unlock()
		return st, fmt.Errorf("%w: %s from %q", ErrBusy, id, peer)
	}
	e.fetches[key] = f
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.fetches, key)
		e.mu.Unlock()
	}()

	start := time.Now()
	have := s.Written(id)
	st.Resumed = have
	asked := have // the end of what was asked for
	ask := func(from, n int64) {
		n = min(n, id.Size-from)
		if n <= 0 {
			return
		}
		frame, err := (&Message{Type: TypeWant, ID: id, Offset: from, Length: n}).Encode()
		if err == nil {
			err = e.opts.Send(ctx, peer, 1, frame)
		}
		if err != nil {
			// Not connected, most likely: the retry timer asks again.
			e.opts.Logger.Debug("blob want not sent", "peer", peer, "blob", id.String(), "err", err)
			return
		}
		asked = max(asked, from+n)
	}
	ask(have, e.opts.Window)
	retry := time.NewTimer(e.opts.Retry)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-retry.C:
			st.Retries++
			e.retries.Add(1)
			have = s.Written(id)
			asked = have
			ask(have, e.opts.Window)
			retry.Reset(e.opts.Retry)
		case m := <-f.in:
			if m.Type == TypeMissing {
				return st, fmt.Errorf("%w: %s at %q: %s", ErrNotFound, id, peer, m.Reason)
			}
			st.Received += int64(len(m.Data))
			if st.First == 0 {
				st.First = time.Since(start)
			}
			done, err := s.Append(id, m.Offset, m.Data)
			var oe *OffsetError
			if errors.As(err, &oe) {
				continue // a duplicate, or past a lost chunk: the retry asks again
			}
			if err != nil {
				return st, fmt.Errorf("blob fetch: %w", err)
			}
			st.Written += int64(len(m.Data))
			if done {
				st.Elapsed = time.Since(start)
				if e.opts.Confirm {
					e.confirm(ctx, peer, id)
				}
				return st, nil
			}
			have = m.Offset + int64(len(m.Data))
			if !retry.Stop() {
				select {
				case <-retry.C:
				default:
				}
			}
			retry.Reset(e.opts.Retry)
			if asked-have <= e.opts.Window/2 {
				ask(asked, e.opts.Window/2)
			}
		}
	}
}

// confirm tells peer that the store holds id, which this endpoint fetched
// from it (EndpointOptions.Confirm). A have that is lost costs the peer a
// measurement, nothing else.
func (e *Endpoint) confirm(ctx context.Context, peer string, id ID) {
	if err := e.Have(ctx, peer, id); err != nil {
		e.opts.Logger.Debug("blob have not sent", "peer", peer, "blob", id.String(), "err", err)
	}
}
