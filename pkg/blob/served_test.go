package blob

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// servedLink is a holder and a fetcher over an in-memory link on
// synctest's clock that carries one chunk from the holder every perChunk;
// frames from the fetcher arrive at once.
type servedLink struct {
	holder, fetcher *Endpoint
	id              ID
	data            []byte
	served          []ServeStats
	lose            atomic.Int64 // the offset of a chunk to lose once; -1 for none
}

func newServedLink(t *testing.T, size int, perChunk time.Duration, confirm bool) *servedLink {
	t.Helper()
	l := &servedLink{data: randomBytes(3, size)}
	l.lose.Store(-1)
	hs := openStore(t, t.TempDir(), Options{})
	var err error
	if l.id, err = hs.Put(bytes.NewReader(l.data), int64(size)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	l.holder, err = NewEndpoint(EndpointOptions{Store: hs, Retry: 2 * time.Second,
		Send: func(_ context.Context, _ string, _ byte, frame []byte) error {
			m, _ := Decode(frame)
			if m.Type == TypeChunk {
				time.Sleep(perChunk) // kept: synctest's clock, the link's pace
				if l.lose.CompareAndSwap(m.Offset, -1) {
					return nil // lost on the way
				}
			}
			l.fetcher.Handle("", frame)
			return nil
		},
		OnServed: func(peer string, id ID, st ServeStats) {
			if peer != "pi-a" || id != l.id {
				t.Errorf("served %s to %q, want %s to pi-a", id, peer, l.id)
			}
			mu.Lock()
			l.served = append(l.served, st)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	l.fetcher, err = NewEndpoint(EndpointOptions{Store: openStore(t, t.TempDir(), Options{}), Retry: 2 * time.Second,
		Confirm: confirm,
		Send: func(_ context.Context, _ string, _ byte, frame []byte) error {
			l.holder.Handle("pi-a", frame)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// fetch runs the holder and fetches the blob; it returns what OnServed
// was told once the fetcher's frames have all arrived.
func (l *servedLink) fetch(t *testing.T) (FetchStats, []ServeStats) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { _ = l.holder.Run(ctx) })
	st, err := l.fetcher.Fetch(ctx, "", l.id)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	synctest.Wait()
	return st, l.served
}

// TestServedFetchIsMeasuredAtTheHolder: a link that carries a 128 KiB
// chunk every 100 ms serves a blob of 17 chunks (a 1 MiB window) in
// exactly 1.7 s on synctest's clock, and the holder, told by the
// fetcher's have, measures that: the rate of the holder → fetcher
// direction.
func TestServedFetchIsMeasuredAtTheHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const size = 16*MaxChunk + 100
		l := newServedLink(t, size, 100*time.Millisecond, true)
		_, served := l.fetch(t)
		want := ServeStats{From: 0, Bytes: size, Elapsed: 1700 * time.Millisecond}
		if len(served) != 1 || served[0] != want {
			t.Fatalf("OnServed told %+v, want once %+v", served, want)
		}
		if n := len(l.holder.served); n != 0 {
			t.Errorf("%d fetches still tracked after the have", n)
		}
	})
}

// TestServedFetchWithARetryIsMarked: a chunk lost on the way makes the
// fetcher ask again after its Retry, from where its store stands: the
// holder sees a want for bytes already asked for and marks the fetch
// retried (its time measures the wait), while its elapsed still runs to
// the have.
func TestServedFetchWithARetryIsMarked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const size = 16*MaxChunk + 100
		l := newServedLink(t, size, 100*time.Millisecond, true)
		l.lose.Store(5 * MaxChunk)
		st, served := l.fetch(t)
		if st.Retries != 1 {
			t.Fatalf("fetch took %d retries, want 1: the test proves nothing", st.Retries)
		}
		if len(served) != 1 || !served[0].Retried || served[0].Bytes != size {
			t.Fatalf("OnServed told %+v, want once a retried fetch of %d bytes", served, size)
		}
		if served[0].Elapsed <= 2500*time.Millisecond { // the last chunk written at 0.5 s, then Retry

			t.Errorf("elapsed %v does not include the retry's wait", served[0].Elapsed)
		}
	})
}

// TestServedFetchWithoutAHaveIsNotMeasured: a fetcher that does not
// confirm (an agent that predates Confirm) leaves the holder nothing to
// measure, and the fetch it tracked is dropped once idle.
func TestServedFetchWithoutAHaveIsNotMeasured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newServedLink(t, 4*MaxChunk, 10*time.Millisecond, false)
		if _, served := l.fetch(t); len(served) != 0 {
			t.Fatalf("OnServed told %+v without a have", served)
		}
		if n := len(l.holder.served); n != 1 {
			t.Fatalf("%d fetches tracked, want the unconfirmed one", n)
		}
		if l.holder.evictServed(time.Now().Add(servedIdle)); len(l.holder.served) != 0 {
			t.Error("an idle unconfirmed fetch was not dropped")
		}
	})
}

// TestServedHaveBeforeTheLastChunkIsNoSample: a peer that confirms before
// the holder began to hand the blob's last chunk over confirms what it
// cannot hold: the fetch is no sample. Asked again, and confirmed after
// the last chunk went, it is one.
func TestServedHaveBeforeTheLastChunkIsNoSample(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := openStore(t, t.TempDir(), Options{})
		data := randomBytes(4, 4*MaxChunk)
		id, err := hs.Put(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		var got []ServeStats
		h, err := NewEndpoint(EndpointOptions{Store: hs,
			Send: func(_ context.Context, _ string, _ byte, frame []byte) error {
				if m, _ := Decode(frame); m.Type == TypeChunk {
					time.Sleep(time.Second) // kept: synctest's clock, a chunk a second
				}
				return nil
			},
			OnServed: func(_ string, _ ID, st ServeStats) { got = append(got, st) }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		defer func() { cancel(); wg.Wait() }()
		wg.Go(func() { _ = h.Run(ctx) })
		w, _ := (&Message{Type: TypeWant, ID: id, Length: id.Size}).Encode()
		have, _ := (&Message{Type: TypeHave, ID: id}).Encode()
		h.Handle("pi-a", w)
		time.Sleep(2500 * time.Millisecond) // kept: synctest's clock; the third chunk is on its way, the fourth not yet
		h.Handle("pi-a", have)
		time.Sleep(5 * time.Second) // kept: synctest's clock; what is proven is an absence
		if len(got) != 0 {
			t.Fatalf("a have before the last chunk measured %+v", got)
		}
		h.Handle("pi-a", w)
		time.Sleep(4500 * time.Millisecond) // kept: synctest's clock; all four handed over
		h.Handle("pi-a", have)
		synctest.Wait()
		want := ServeStats{Bytes: id.Size, Elapsed: 4500 * time.Millisecond}
		if len(got) != 1 || got[0] != want {
			t.Fatalf("OnServed told %+v, want once %+v", got, want)
		}
	})
}
