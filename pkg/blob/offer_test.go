package blob

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestOfferIsFetchedAndAnswered: an operator's endpoint offers a blob; the
// receiver, told by OnOffer, fetches it and answers have, and Offer returns.
// The first offer is lost on the way: the offer goes again after Retry. A
// receiver that will not take a blob answers with a reason, which Offer
// returns wrapped in ErrRefused. An offer of a blob the store does not hold
// is an error at once.
func TestOfferIsFetchedAndAnswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const retry = 2 * time.Second
		data := randomBytes(7, 3*MaxChunk+5)
		opStore, schedStore := openStore(t, t.TempDir(), Options{}), openStore(t, t.TempDir(), Options{})
		id, err := opStore.Put(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		refused := Of([]byte("too big, say"))
		if _, err := opStore.Put(bytes.NewReader([]byte("too big, say")), 12); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var wg sync.WaitGroup
		defer func() { cancel(); wg.Wait() }()

		var op, sched *Endpoint
		offersLost := 1
		op, err = NewEndpoint(EndpointOptions{Store: opStore, Retry: retry,
			Send: func(_ context.Context, _ string, _ byte, frame []byte) error {
				if m, _ := Decode(frame); m.Type == TypeOffer && offersLost > 0 {
					offersLost--
					return nil // lost on the way
				}
				sched.Handle("operator/ops", frame)
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		sched, err = NewEndpoint(EndpointOptions{Store: schedStore, Retry: retry,
			Send: func(_ context.Context, _ string, _ byte, frame []byte) error {
				op.Handle("", frame)
				return nil
			},
			OnOffer: func(peer string, got ID) {
				wg.Go(func() {
					if got == refused {
						_ = sched.Refuse(ctx, peer, got, "over the operator's share")
						return
					}
					if _, err := sched.Fetch(ctx, peer, got); err != nil {
						t.Errorf("fetch of the offer: %v", err)
						return
					}
					_ = sched.Have(ctx, peer, got)
				})
			}})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range []*Endpoint{op, sched} {
			wg.Go(func() { _ = e.Run(ctx) })
		}

		start := time.Now()
		if err := op.Offer(ctx, "", id); err != nil {
			t.Fatalf("Offer: %v", err)
		}
		if took := time.Since(start); took != retry {
			t.Errorf("answered after %v, want one Retry (%v) for the lost offer", took, retry)
		}
		if !bytes.Equal(readBlob(t, schedStore, id), data) {
			t.Fatal("the receiver's blob differs")
		}
		err = op.Offer(ctx, "", refused)
		if !errors.Is(err, ErrRefused) || !bytes.Contains([]byte(err.Error()), []byte("over the operator's share")) {
			t.Errorf("a refused offer: %v", err)
		}
		if err := op.Offer(ctx, "", Of([]byte("not held"))); !errors.Is(err, ErrNotFound) {
			t.Errorf("an offer of a blob not held: %v", err)
		}
	})
}

// TestRefusalReasonIsClipped: a reason longer than MaxReason is cut on a
// rune boundary, so the missing it goes in still encodes.
func TestRefusalReasonIsClipped(t *testing.T) {
	long := string(bytes.Repeat([]byte("é"), MaxReason)) // 2 bytes a rune
	got := clipReason(long)
	if len(got) > MaxReason || len(got) < MaxReason-1 {
		t.Fatalf("clipped to %d bytes", len(got))
	}
	if _, err := (&Message{Type: TypeMissing, ID: Of(nil), Reason: got}).Encode(); err != nil {
		t.Fatalf("the clipped reason does not encode: %v", err)
	}
	if clipReason("short") != "short" {
		t.Fatal("a short reason changed")
	}
}
