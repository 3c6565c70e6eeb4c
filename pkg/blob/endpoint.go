package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// EndpointOptions configure an Endpoint. Zero fields take the defaults.
type EndpointOptions struct {
	// Store holds the blobs the endpoint serves and receives. Required.
	Store *Store
	// Send hands one frame for peer to the transport, blocking until it is
	// handed over (that is the sender's back-pressure). Chunks go with
	// QoS 0: a lost one is asked for again; wants and missings with QoS 1.
	// Required.
	Send func(ctx context.Context, peer string, qos byte, frame []byte) error
	// Allow, if set, decides whether peer may fetch id from this endpoint;
	// a refused want is answered with a missing. Nil allows every blob the
	// store holds: a blob's id is 40 bytes of its content nobody guesses.
	Allow func(peer string, id ID) bool
	// Restore, if set, is asked about a want for a blob the store does
	// not hold whole: true says it is bringing the blob into the store
	// (the want goes unanswered; the peer asks again after its Retry and
	// is served then), false has the want answered missing. It runs on
	// Run's goroutine: it may wait for a lookup, never for a transfer.
	// (A highly available scheduler restores from its region's bucket.)
	Restore func(peer string, id ID) bool
	// Window is how many bytes a fetch keeps asked for ahead of what it
	// has written: it must cover the link's bandwidth × RTT (8 Mbit/s ×
	// 160 ms is 160 KB). Default 1 MiB (8 chunks), which is also the most
	// a fetch has queued in memory.
	Window int64
	// Retry is how long a fetch waits for a chunk before it asks again
	// from what its store has (after a lost connection, a partition, a
	// restarted sender). Default 3 s.
	Retry time.Duration
	// Queue bounds the wants waiting to be served; more are dropped (their
	// fetches ask again after Retry). Default 64.
	Queue int
	// OnOffer, if set, is told that peer offers blob id (an upload): it
	// decides whether to fetch it and answers with Have or Refuse. It is
	// called on the transport's receive goroutine and must not block. Nil:
	// offers are dropped, and an offering peer's Offer waits until its
	// context ends.
	OnOffer func(peer string, id ID)
	// OnServed, if set, is told of each fetch a peer made of a whole blob
	// from this endpoint once the peer confirms it (its fetcher's
	// Confirm): the holder's measure of its link to the peer (served.go).
	// It is called on the transport's receive goroutine and must not
	// block.
	OnServed func(peer string, id ID, st ServeStats)
	// Confirm has Fetch tell the peer it fetched from that it holds the
	// blob (a have) once it installed bytes the peer sent, so that the
	// peer can measure the transfer (OnServed). A peer that does not
	// track it drops the have.
	Confirm bool
	Logger  *slog.Logger
}

const (
	DefaultWindow = 1 << 20
	DefaultRetry  = 3 * time.Second
	DefaultQueue  = 64
)

func (o *EndpointOptions) ensureDefaults() {
	if o.Window < MaxChunk {
		o.Window = DefaultWindow
	}
	o.Window = min(o.Window, MaxWant)
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Endpoint moves blobs between its store and peers'. Handle takes frames
// from the transport; Run serves the wants of peers; Fetch gets a blob
// from a peer. One Endpoint per process and transport: on an agent its
// only peer is the scheduler, at the scheduler every node is one.
type Endpoint struct {
	opts  EndpointOptions
	wants chan want

	mu      sync.Mutex // guards fetches, offers and served
	fetches map[fetchKey]*fetch
	offers  map[fetchKey]chan Message // an Offer's inbox for the peer's have or missing
	served  map[fetchKey]*serving     // peers' fetches being served, for OnServed

	dropped atomic.Int64 // frames that did not decode or found no fetch
	retries atomic.Int64 // fetches' asks after Retry passed with no chunk
	logged  atomic.Int64 // unix seconds of the last rate-limited log
}

type want struct {
	peer string
	m    Message
}

type fetchKey struct {
	peer string
	id   ID
}

// NewEndpoint returns an endpoint; call Run to serve wants.
func NewEndpoint(opts EndpointOptions) (*Endpoint, error) {
	if opts.Store == nil || opts.Send == nil {
		return nil, errors.New("blob endpoint: Store and Send are required")
	}
	opts.ensureDefaults()
	return &Endpoint{opts: opts, wants: make(chan want, opts.Queue), fetches: map[fetchKey]*fetch{}, offers: map[fetchKey]chan Message{},
		served: map[fetchKey]*serving{}}, nil
}

// Handle takes one frame that peer sent. It never blocks: the transport
// calls it on its receive goroutine.
func (e *Endpoint) Handle(peer string, frame []byte) {
	m, err := Decode(frame)
	if err != nil {
		e.drop("blob frame refused", "peer", peer, "bytes", len(frame), "err", err)
		return
	}
	switch m.Type {
	case TypeWant:
		e.noteWant(peer, m, time.Now()) // before serve can see it; a dropped want makes a retry
		select {
		case e.wants <- want{peer: peer, m: m}:
		default:
			e.drop("blob want dropped: the queue is full", "peer", peer)
		}
		return
	case TypeOffer:
		if e.opts.OnOffer == nil {
			e.dropped.Add(1)
			return
		}
		e.opts.OnOffer(peer, m.ID)
		return
	}
	key := fetchKey{peer, m.ID}
	var tracked bool
	if m.Type == TypeHave {
		tracked = e.confirmed(peer, m.ID, time.Now()) // the end of a fetch from this endpoint
	}
	e.mu.Lock()
	f, o := e.fetches[key], e.offers[key]
	e.mu.Unlock()
	if m.Type == TypeHave || (f == nil && m.Type == TypeMissing) {
		// The answer to an Offer: a missing goes to the fetch if there
		// is one, since a peer that refuses a want answers the same way.
		if o != nil {
			select {
			case o <- m:
			default: // an answer is already queued
			}
			return
		}
		if !tracked {
			e.dropped.Add(1)
		}
		return
	}
	if f == nil || !f.offer(m) {
		e.dropped.Add(1) // a late chunk of a finished fetch, or a full queue: not worth a log
	}
}

// Retries returns how often fetches asked again after Retry passed with
// no chunk: a link that loses connections, or a peer that is away.
func (e *Endpoint) Retries() int64 { return e.retries.Load() }

// drop counts a refused frame and logs at most one a second; the frame's
// bytes are never logged.
func (e *Endpoint) drop(msg string, args ...any) {
	e.dropped.Add(1)
	now := time.Now().Unix()
	if last := e.logged.Load(); now > last && e.logged.CompareAndSwap(last, now) {
		e.opts.Logger.Warn(msg, append(args, "dropped_total", e.dropped.Load())...)
	}
}

// Run serves peers' wants until ctx ends, one at a time: the transport's
// hand-over paces it.
func (e *Endpoint) Run(ctx context.Context) error {
	buf := make([]byte, MaxChunk)
	for {
		select {
		case <-ctx.Done():
			return nil
		case w := <-e.wants:
			if err := e.serve(ctx, w, buf); err != nil && ctx.Err() == nil {
				e.opts.Logger.Debug("blob want not served", "peer", w.peer, "blob", w.m.ID.String(), "err", err)
			}
		}
	}
}

// serve sends the chunks of one want, or a missing.
func (e *Endpoint) serve(ctx context.Context, w want, buf []byte) error {
	id := w.m.ID
	if e.opts.Allow != nil && !e.opts.Allow(w.peer, id) {
		e.noteServed(w.peer, id, servedMissing)
		return e.missing(ctx, w.peer, id, "not available to this peer")
	}
	f, err := e.opts.Store.OpenBlob(id)
	if err != nil {
		if e.opts.Restore != nil && e.opts.Restore(w.peer, id) {
			e.noteServed(w.peer, id, servedRestoring)
			return nil
		}
		e.noteServed(w.peer, id, servedMissing)
		return e.missing(ctx, w.peer, id, "not held here")
	}
	defer f.Close()
	end := min(w.m.Offset+w.m.Length, id.Size)
	for off := w.m.Offset; off < end; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), end-off)], off)
		if n == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read: %w", err)
		}
		c := Message{Type: TypeChunk, ID: id, Offset: off, Data: buf[:n]}
		frame, err := c.Encode()
		if err != nil {
			return err
		}
		if off+int64(n) == id.Size {
			e.noteServed(w.peer, id, servedLast) // before the peer can have it
		}
		if err := e.opts.Send(ctx, w.peer, 0, frame); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		off += int64(n)
	}
	return nil
}

func (e *Endpoint) missing(ctx context.Context, peer string, id ID, reason string) error {
	frame, err := (&Message{Type: TypeMissing, ID: id, Reason: reason}).Encode()
	if err != nil {
		return err
	}
	return e.opts.Send(ctx, peer, 1, frame)
}
