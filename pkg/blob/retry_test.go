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

// TestLostChunkCostsOneRetry: two endpoints over an in-memory link that
// loses one chunk. The chunks after the hole are refused (past a lost
// chunk), and the fetch asks again from where its store stands once Retry
// has passed with no chunk written: on synctest's clock the blob is
// installed exactly one Retry after the first want, after one retry.
func TestLostChunkCostsOneRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const retry = 2 * time.Second
		data := randomBytes(1, 5*MaxChunk+100)
		schedStore := openStore(t, t.TempDir(), Options{})
		id, err := schedStore.Put(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		nodeStore := openStore(t, t.TempDir(), Options{})

		var node, sched *Endpoint
		var lost atomic.Bool
		sched, err = NewEndpoint(EndpointOptions{Store: schedStore, Retry: retry,
			Send: func(_ context.Context, _ string, _ byte, frame []byte) error {
				if m, err := Decode(frame); err == nil && m.Type == TypeChunk && m.Offset == 2*MaxChunk && lost.CompareAndSwap(false, true) {
					return nil // lost on the way, as a QoS 0 chunk may be
				}
				node.Handle("sched", frame)
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		node, err = NewEndpoint(EndpointOptions{Store: nodeStore, Retry: retry,
			Send: func(_ context.Context, _ string, _ byte, frame []byte) error {
				sched.Handle("node-a", frame)
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var wg sync.WaitGroup
		defer func() { cancel(); wg.Wait() }()
		wg.Go(func() {
			if err := sched.Run(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("sched Run: %v", err)
			}
		})

		st, err := node.Fetch(ctx, "sched", id)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if !lost.Load() {
			t.Fatal("no chunk was lost: the test proves nothing")
		}
		if st.Retries != 1 || node.Retries() != 1 {
			t.Errorf("retries %d (endpoint %d), want 1", st.Retries, node.Retries())
		}
		if st.Elapsed != retry {
			t.Errorf("installed after %v, want exactly one Retry (%v)", st.Elapsed, retry)
		}
		if !bytes.Equal(readBlob(t, nodeStore, id), data) {
			t.Fatal("the fetched blob differs from the sent one")
		}
	})
}
