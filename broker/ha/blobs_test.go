package ha

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tether-edge/tether/broker/natsconf"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/blob"
)

func openStore(t *testing.T) *blob.Store {
	t.Helper()
	st, err := blob.Open(blob.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mustBlobs(t *testing.T, tm *Term) *Blobs {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := tm.Blobs(ctx, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// putBlob stores data in st and replicates it to b, charged to owner, as
// the scheduler does with a blob it acknowledges.
func putBlob(t *testing.T, st *blob.Store, b *Blobs, data []byte, owner string) blob.ID {
	t.Helper()
	id, err := st.Put(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := st.OpenBlob(id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Put(ctx, id, f, owner); err != nil {
		t.Fatal(err)
	}
	return id
}

func readBlob(t *testing.T, st *blob.Store, id blob.ID) []byte {
	t.Helper()
	p, err := st.Path(id)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestBlobsOutliveTheirScheduler: a blob scheduler a replicated is
// restored, verified, into another scheduler's empty store after a stopped
// renewing (its process paused, its store abandoned) and b took over; a
// reads it meanwhile as well. The deposed a cannot delete it; the new
// holder can, and then nothing of it is left.
func TestBlobsOutliveTheirScheduler(t *testing.T) {
	c := startRegion(t)
	ra, _ := c.open(t, "a", 0)
	rb, _ := c.open(t, "b", 1)
	ta := mustCampaign(t, ra)
	ba := mustBlobs(t, ta)
	big := make([]byte, 700<<10) // several of the bucket's 128 KiB chunks
	rand.Read(big)
	idBig := putBlob(t, openStore(t), ba, big, "operator/ops")
	idEmpty := putBlob(t, openStore(t), ba, nil, "")
	// Put again: the bucket holds it, nothing is written, its owner stays.
	putBlob(t, openStore(t), ba, big, "operator/other")

	close(ta.resign) // renewals stop; Lost never closes, as in a paused process
	<-ta.done
	tb := mustCampaign(t, rb)
	bb := mustBlobs(t, tb)
	sb := openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range []blob.ID{idBig, idEmpty} {
		if err := bb.Restore(ctx, id, sb); err != nil {
			t.Fatalf("restore %s: %v", id, err)
		}
	}
	if got := readBlob(t, sb, idBig); !bytes.Equal(got, big) {
		t.Fatalf("restored %d bytes, not the %d stored", len(got), len(big))
	}
	if !sb.Has(idEmpty) {
		t.Fatal("the empty blob is not restored")
	}
	objs, err := bb.List(ctx)
	if err != nil || len(objs) != 2 {
		t.Fatalf("List = %v, %v; want the 2 blobs", objs, err)
	}
	for _, o := range objs {
		if want := map[blob.ID]string{idBig: "operator/ops"}[o.ID]; o.Owner != want {
			t.Errorf("after the failover %s's owner is %q, want %q", o.ID, o.Owner, want)
		}
	}

	// A partial blob in the store (a transfer cut off) is continued.
	sc := openStore(t)
	if _, err := sc.Append(idBig, 0, big[:blob.MaxChunk+5]); err != nil {
		t.Fatal(err)
	}
	if err := ba.Restore(ctx, idBig, sc); err != nil {
		t.Fatalf("the deposed scheduler's restore: %v", err)
	}
	if got := readBlob(t, sc, idBig); !bytes.Equal(got, big) {
		t.Fatal("a continued restore differs from the blob")
	}

	if err := ba.Delete(ctx, idBig); !errors.Is(err, taskengine.ErrFenced) {
		t.Fatalf("the deposed scheduler's Delete: %v, want taskengine.ErrFenced", err)
	}
	if ok, err := bb.Has(ctx, idBig); !ok || err != nil {
		t.Fatalf("after a deposed Delete: Has = %v, %v", ok, err)
	}
	for _, id := range []blob.ID{idBig, idEmpty} {
		if err := bb.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		if ok, err := bb.Has(ctx, id); ok || err != nil {
			t.Fatalf("after Delete: Has = %v, %v", ok, err)
		}
	}
	if err := bb.Delete(ctx, idBig); err != nil {
		t.Fatalf("deleting an absent blob: %v", err)
	}
	if objs, err := bb.List(ctx); err != nil || len(objs) != 0 {
		t.Fatalf("after the deletes: List = %v, %v", objs, err)
	}
	info, err := bb.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Errorf("after the deletes the bucket's stream keeps %d messages", info.State.Msgs)
	}
	if err := bb.Restore(ctx, idBig, openStore(t)); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("restoring a deleted blob: %v, want blob.ErrNotFound", err)
	}
}

// TestForeignObjectsAreRefused: an object under a blob's name that holds
// other bytes is not installed: one whose metadata says so is not read,
// and one whose metadata is forged to the name's digest is refused when
// its bytes do not hash to it. Nothing of either stays in the store.
func TestForeignObjectsAreRefused(t *testing.T) {
	c := startRegion(t)
	r, nc := c.open(t, "a", 0)
	tm := mustCampaign(t, r)
	b := mustBlobs(t, tm)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	want := []byte("the blob the name says")
	id := blob.Of(want)
	if _, err := b.obs.PutBytes(ctx, id.String(), []byte("other bytes, other length")); err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	if err := b.Restore(ctx, id, st); !errors.Is(err, blob.ErrCorrupt) {
		t.Fatalf("restore of an object with other metadata: %v, want blob.ErrCorrupt", err)
	}
	if ok, _ := b.Has(ctx, id); ok {
		t.Error("Has counts an object that is not the blob")
	}

	// Forged: the metadata claims the name's size and digest, the one
	// chunk is other bytes of that length.
	forged := bytes.Repeat([]byte("x"), len(want))
	chunks := "$O." + b.bucket + ".C.forged"
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, chunks, forged); err != nil {
		t.Fatal(err)
	}
	meta, _ := json.Marshal(jetstream.ObjectInfo{ObjectMeta: jetstream.ObjectMeta{Name: id.String()}, Bucket: b.bucket,
		NUID: "forged", Size: uint64(id.Size), Chunks: 1, Digest: "SHA-256=" + b64(id.Sum[:])})
	m := nats.NewMsg(metaSubject(b.bucket, id.String()))
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	m.Data = meta
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Has(ctx, id); !ok || err != nil {
		t.Fatalf("the forged metadata does not pass for the blob (Has = %v, %v): the test needs it to", ok, err)
	}
	if err := b.Restore(ctx, id, st); !errors.Is(err, blob.ErrCorrupt) && !errors.Is(err, jetstream.ErrDigestMismatch) {
		t.Fatalf("restore of forged bytes: %v, want blob.ErrCorrupt", err)
	}
	if st.Has(id) || st.Written(id) != 0 {
		t.Fatalf("forged bytes kept: has %v, written %d", st.Has(id), st.Written(id))
	}
	if used, _ := st.Usage(); used != 0 {
		t.Errorf("the store counts %d bytes after the refusals", used)
	}
}

// TestBlobBucketBound: the bucket refuses a blob past its bytes, and
// nothing of it stays.
func TestBlobBucketBound(t *testing.T) {
	c := startRegion(t)
	r, _ := c.open(t, "a", 0)
	tm := mustCampaign(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := tm.Blobs(ctx, 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 300<<10)
	rand.Read(data)
	st := openStore(t)
	id, err := st.Put(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := st.OpenBlob(id)
	defer f.Close()
	if err := b.Put(ctx, id, f, ""); err == nil {
		t.Fatal("a blob past the bucket's bytes was stored")
	}
	if ok, _ := b.Has(ctx, id); ok {
		t.Error("the refused blob is in the bucket")
	}
	// A bucket larger than the nodes' stores (8 GB in deploy/nats) is
	// refused by JetStream, and Blobs says so at once.
	start := time.Now()
	if _, err := tm.Blobs(ctx, 64<<30); err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("a 64 GiB bucket: %v after %v, want JetStream's refusal at once", err, time.Since(start))
	}
	if natsconf.HABlobBucket(testRegion) != b.bucket {
		t.Errorf("bucket %q, natsconf grants %q", b.bucket, natsconf.HABlobBucket(testRegion))
	}
}

func b64(b []byte) string { return base64.URLEncoding.EncodeToString(b) }

// TestBlobBucketReadsThroughItsLeader: the bucket's stream answers no
// direct gets (any replica may answer one, stale right after a write or a
// delete: CI saw Has true just after Delete), also once nats.go's
// CreateOrUpdate, which every acting scheduler's start calls, turned them
// on again.
func TestBlobBucketReadsThroughItsLeader(t *testing.T) {
	c := startRegion(t)
	ra, _ := c.open(t, "a", 0)
	ta := mustCampaign(t, ra)
	for range 2 { // the second open finds the stream made, and direct gets turned off
		b := mustBlobs(t, ta)
		if cfg := b.stream.CachedInfo().Config; cfg.AllowDirect {
			t.Fatalf("the blob bucket's stream allows direct gets: %+v", cfg)
		}
		id := putBlob(t, openStore(t), b, []byte("leader"), "")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := b.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		ok, err := b.Has(ctx, id)
		cancel()
		if ok || err != nil {
			t.Fatalf("right after Delete: Has = %v, %v", ok, err)
		}
	}
}
