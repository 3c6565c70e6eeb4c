package ha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pollEvery is how often Campaign tries to take a free lease: a standby
// reacts to an expired or resigned lease within it.
const pollEvery = 200 * time.Millisecond

// Term is one holding of the region by this scheduler, from Campaign until
// it is lost or resigned. Safe for concurrent use.
//
//	Campaign ──▶ valid ──renewal fails / deadline passes──▶ lost
//	               └──────────────Resign─────────────────────▶ lost
type Term struct {
	r        *Region
	epoch    uint64
	ctx      context.Context // ends when the term is lost
	cancel   context.CancelFunc
	lost     chan struct{}
	lostOnce sync.Once
	resign   chan struct{}
	done     chan struct{} // the renewal loop has ended

	mu       sync.Mutex // guards epoch, leaseSeq and deadline
	leaseSeq uint64     // the lease message this term last stored
	deadline time.Time  // act no later than this (monotonic)
}

// Epoch is the term's fence: the region's epoch subject's stream sequence
// this term wrote. A later term's Epoch is larger.
func (t *Term) Epoch() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.epoch
}

// Lost is closed once the term may no longer act: a renewal failed, the
// local deadline passed without one, or Resign. It closes before the lease
// can expire on the servers, so before another scheduler can take over.
func (t *Term) Lost() <-chan struct{} { return t.lost }

// Valid says the term is not lost.
func (t *Term) Valid() bool {
	select {
	case <-t.lost:
		return false
	default:
		return true
	}
}

// Resign ends the term and deletes its lease, so a standby takes over at
// once rather than after LeaseTTL.
func (t *Term) Resign() {
	select {
	case <-t.resign:
	default:
		close(t.resign)
	}
	<-t.done
	t.lose("resigned")
	t.mu.Lock()
	seq := t.leaseSeq
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Only this term's message: a lease another scheduler stored since has
	// another sequence.
	if err := t.r.stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.r.log.Warn("ha: resign: lease not deleted; it expires by its TTL", "err", err)
	}
}

func (t *Term) lose(why string) {
	t.lostOnce.Do(func() {
		t.mu.Lock()
		epoch := t.epoch
		t.mu.Unlock()
		t.r.log.Info("ha: term lost", "epoch", epoch, "why", why)
		close(t.lost)
		t.cancel()
		t.r.mu.Lock()
		if t.r.term == t {
			t.r.term = nil
		}
		t.r.mu.Unlock()
	})
}

// Campaign blocks until this scheduler holds the region's lease, then
// bumps the epoch and returns the new Term. It fails when ctx ends, or when
// this Region already has a live Term.
func (r *Region) Campaign(ctx context.Context) (*Term, error) {
	r.mu.Lock()
	if r.term != nil {
		r.mu.Unlock()
		return nil, errors.New("ha: campaign: this scheduler already holds the region")
	}
	r.mu.Unlock()
	var seq uint64
	var sent time.Time
	for {
		actx, cancel := context.WithTimeout(ctx, r.o.LeaseTTL)
		var err error
		seq, sent, err = r.acquire(actx)
		cancel()
		if err == nil {
			break
		}
		if !wrongSeq(err) {
			r.log.Warn("ha: campaign", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pollEvery):
		}
	}
	tctx, cancel := context.WithCancel(context.Background())
	t := &Term{r: r, ctx: tctx, cancel: cancel, lost: make(chan struct{}), resign: make(chan struct{}),
		done: make(chan struct{}), leaseSeq: seq, deadline: r.deadline(sent)}
	r.mu.Lock()
	r.term = t
	r.mu.Unlock()
	go t.renew()
	epoch, err := r.bump(ctx, t)
	if err != nil {
		t.Resign()
		return nil, err
	}
	t.mu.Lock()
	t.epoch = epoch
	t.mu.Unlock()
	r.log.Info("ha: holding the region", "holder", r.o.Holder, "epoch", epoch)
	return t, nil
}

// deadline is when a lease sent at sent stops being ours to act on: the
// servers store it after sent, so it expires there no earlier than
// sent+LeaseTTL; the margin covers clock rate differences.
func (r *Region) deadline(sent time.Time) time.Time {
	return sent.Add(r.o.LeaseTTL - r.o.LeaseTTL/10)
}

// acquire stores a lease if none is held (the subject is empty: never
// written, expired or deleted), or if the one held names this scheduler
// (a term of ours that was lost, e.g. while a node died).
func (r *Region) acquire(ctx context.Context) (seq uint64, sent time.Time, err error) {
	sent = time.Now()
	seq, err = r.storeLease(ctx, 0, 0)
	if err == nil || !wrongSeq(err) {
		return seq, sent, err
	}
	m, gerr := r.stream.GetLastMsgForSubject(ctx, r.names.lease)
	if gerr != nil {
		return 0, sent, err
	}
	var l lease
	if json.Unmarshal(m.Data, &l) != nil || l.Holder != r.o.Holder {
		return 0, sent, err
	}
	sent = time.Now()
	seq, err = r.storeLease(ctx, m.Sequence, 0)
	return seq, sent, err
}

// storeLease publishes the lease, expecting the lease subject's last
// sequence to be prev.
func (r *Region) storeLease(ctx context.Context, prev, epoch uint64) (uint64, error) {
	body, _ := json.Marshal(lease{Holder: r.o.Holder, Epoch: epoch})
	m := nats.NewMsg(r.names.lease)
	m.Data = body
	// NATS keeps TTLs in whole seconds: rounded up, the lease never
	// expires on the servers before the holder's deadline.
	m.Header.Set(hdrTTL, fmt.Sprintf("%ds", int((r.o.LeaseTTL+time.Second-1)/time.Second)))
	expect(m, r.names.lease, prev)
	return publish(ctx, r.nc, []*nats.Msg{m})
}

// bump writes the epoch subject, expecting its current last sequence, and
// returns the new message's sequence.
func (r *Region) bump(ctx context.Context, t *Term) (uint64, error) {
	for {
		if !t.Valid() {
			return 0, errors.New("ha: campaign: lease lost before the epoch was bumped")
		}
		// Bounded by the lease: past it the term is lost anyway.
		actx, cancel := context.WithTimeout(ctx, r.o.LeaseTTL)
		seq, err := r.bumpOnce(actx)
		cancel()
		if err == nil {
			return seq, nil
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("ha: bump epoch: %w", err)
		}
		if !wrongSeq(err) {
			r.log.Warn("ha: bump epoch", "err", err)
		}
	}
}

func (r *Region) bumpOnce(ctx context.Context) (uint64, error) {
	prev, err := r.lastSeq(ctx, r.names.epoch)
	if err != nil {
		return 0, err
	}
	m := nats.NewMsg(r.names.epoch)
	m.Data = []byte(r.o.Holder)
	expect(m, r.names.epoch, prev)
	return publish(ctx, r.nc, []*nats.Msg{m})
}

// renew keeps the lease every LeaseTTL/5 until the term is lost or
// resigned. A renewal that fails, or does not return before the deadline,
// loses the term: its outcome is unknown, so is the lease's sequence.
func (t *Term) renew() {
	defer close(t.done)
	every := t.r.o.LeaseTTL / 5
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		t.mu.Lock()
		deadline, seq, epoch := t.deadline, t.leaseSeq, t.epoch
		t.mu.Unlock()
		expire := time.NewTimer(time.Until(deadline))
		select {
		case <-t.resign:
			expire.Stop()
			return
		case <-t.lost:
			expire.Stop()
			return
		case <-expire.C:
			t.lose("lease not renewed before its deadline")
			return
		case <-tick.C:
			expire.Stop()
		}
		ctx, cancel := context.WithDeadline(t.ctx, deadline)
		sent := time.Now()
		next, err := t.r.storeLease(ctx, seq, epoch)
		cancel()
		if err != nil {
			t.lose("renewal failed: " + err.Error())
			return
		}
		t.mu.Lock()
		t.leaseSeq, t.deadline = next, t.r.deadline(sent)
		t.mu.Unlock()
	}
}
