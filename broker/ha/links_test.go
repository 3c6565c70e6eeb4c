package ha

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/taskengine"
)

// TestLinksOutliveTheirScheduler: the link estimates one scheduler saved
// are what its successor reads; the blob listing does not see them; a
// deposed scheduler's save is refused and leaves its successor's.
func TestLinksOutliveTheirScheduler(t *testing.T) {
	c := startRegion(t)
	ra, _ := c.open(t, "a", 0)
	rb, _ := c.open(t, "b", 1)
	ta := mustCampaign(t, ra)
	ba := mustBlobs(t, ta)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if got, err := ba.Links(ctx); got != nil || err != nil {
		t.Fatalf("before any save: Links = %q, %v; want nothing", got, err)
	}
	first := bytes.Repeat([]byte(`{"v":1}`), 40_000) // 280 KB: several chunks
	if err := ba.PutLinks(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := ba.PutLinks(ctx, []byte(`{"v":1,"second":true}`)); err != nil { // replaces
		t.Fatal(err)
	}
	if objs, err := ba.List(ctx); err != nil || len(objs) != 0 {
		t.Fatalf("List = %v, %v; want no blobs (the links object is none)", objs, err)
	}

	close(ta.resign) // renewals stop; Lost never closes, as in a paused process
	<-ta.done
	tb := mustCampaign(t, rb)
	bb := mustBlobs(t, tb)
	got, err := bb.Links(ctx)
	if err != nil || string(got) != `{"v":1,"second":true}` {
		t.Fatalf("the successor reads %q, %v; want the last save", got, err)
	}
	if err := bb.PutLinks(ctx, []byte(`{"v":1,"successor":true}`)); err != nil {
		t.Fatal(err)
	}
	if err := ba.PutLinks(ctx, []byte(`{"v":1,"deposed":true}`)); !errors.Is(err, taskengine.ErrFenced) {
		t.Fatalf("the deposed scheduler's save: %v, want taskengine.ErrFenced", err)
	}
	if got, err := bb.Links(ctx); err != nil || string(got) != `{"v":1,"successor":true}` {
		t.Fatalf("after a deposed save: %q, %v; want the successor's", got, err)
	}
}
