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

// TestWantOfABlobBeingRestored: a want for a blob the serving store lacks
// is left unanswered while Restore brings it in, and the fetch gets it at
// its next ask, one Retry later; a blob Restore cannot bring is answered
// missing at once.
func TestWantOfABlobBeingRestored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const retry = 2 * time.Second
		data := randomBytes(3, 3*MaxChunk+7)
		id := Of(data)
		absent := Of([]byte("held nowhere"))
		schedStore := openStore(t, t.TempDir(), Options{})
		nodeStore := openStore(t, t.TempDir(), Options{})
		var mu sync.Mutex
		var asked []ID
		var restoring sync.WaitGroup
		var node, sched *Endpoint
		sched, err := NewEndpoint(EndpointOptions{Store: schedStore, Retry: retry,
			Send: func(_ context.Context, _ string, _ byte, frame []byte) error {
				node.Handle("sched", frame)
				return nil
			},
			Restore: func(_ string, want ID) bool {
				mu.Lock()
				asked = append(asked, want)
				mu.Unlock()
				if want != id {
					return false
				}
				restoring.Go(func() {
					time.Sleep(retry / 2) // kept: synctest's clock, the bucket's restore taking this long
					if _, err := schedStore.Put(bytes.NewReader(data), int64(len(data))); err != nil {
						t.Error(err)
					}
				})
				return true
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
		defer func() { cancel(); wg.Wait(); restoring.Wait() }()
		wg.Go(func() { _ = sched.Run(ctx) })

		st, err := node.Fetch(ctx, "sched", id)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if st.Retries != 1 || st.Elapsed != retry {
			t.Errorf("fetched after %d retries, %v; want 1 retry, %v", st.Retries, st.Elapsed, retry)
		}
		if !bytes.Equal(readBlob(t, nodeStore, id), data) {
			t.Fatal("the fetched blob differs from the restored one")
		}
		start := time.Now()
		if _, err := node.Fetch(ctx, "sched", absent); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Fetch of a blob Restore cannot bring: %v, want ErrNotFound", err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("the missing came after %v, want at once", d)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(asked) != 2 || asked[0] != id || asked[1] != absent {
			t.Errorf("Restore asked about %v, want the blob once (it was held at the retry), then the absent one", asked)
		}
	})
}
