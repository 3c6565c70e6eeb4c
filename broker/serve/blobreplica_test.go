package serve

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/tether-edge/tether/broker/ha"
	"github.com/tether-edge/tether/broker/natsconf"
	"github.com/tether-edge/tether/broker/natsconf/natstest"
	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/testenv"
)

// haBlobs opens region "eu-1"'s blob bucket on a real 3-node cluster as
// its acting scheduler.
func haBlobs(t *testing.T) *ha.Blobs {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("sched-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := natsconf.Authorization([]natsconf.User{{Name: "sched", Hash: string(h)}}, natsconf.Options{Region: "eu-1", Schedulers: []string{"sched"}})
	if err != nil {
		t.Fatal(err)
	}
	c := natstest.Start(t, "eu-1", auth)
	nc, err := nats.Connect(strings.Join(c.ClientURLs(0), ","), nats.UserInfo("sched", "sched-pw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := ha.Open(ctx, nc, ha.Options{Region: "eu-1", Holder: "a", LeaseTTL: 2 * time.Second, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tm, err := r.Campaign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tm.Resign)
	b, err := tm.Blobs(ctx, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBucketFollowsTheStore: a blob the scheduler replicated is
// acknowledged, whether its store has it or not; the bucket's copy is restored for a want when the store
// has lost it, and a want for a blob the bucket lacks is answered missing;
// the collection deletes from the bucket what the store's collection
// deleted and what no task refers to and was stored before the grace, and
// keeps the rest.
func TestBucketFollowsTheStore(t *testing.T) {
	t.Parallel()
	st, err := blob.Open(blob.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &scheduler{log: slog.New(slog.DiscardHandler), blobStore: st, replica: haBlobs(t), pullCtx: ctx}
	put := func(b string) blob.ID {
		t.Helper()
		id, err := st.Put(bytes.NewReader([]byte(b)), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if s.acknowledged(id) {
			t.Fatalf("%s acknowledged before the bucket holds it", b)
		}
		if err := s.replicate(ctx, id); err != nil {
			t.Fatal(err)
		}
		if !s.acknowledged(id) {
			t.Fatalf("%s not acknowledged once replicated", b)
		}
		return id
	}
	ref, orphan, goneLocal := put("a task's input"), put("nobody's"), put("collected from the store")
	before := time.Now()
	young := put("an upload about to be submitted")

	if err := st.Remove(ref); err != nil { // as after a failover: not in this store
		t.Fatal(err)
	}
	if !s.acknowledged(ref) {
		t.Fatal("a blob the bucket holds is not acknowledged once the store lost it")
	}
	if !s.restoreFor("pi-1", ref) {
		t.Fatal("a want for a blob in the bucket is answered missing")
	}
	testenv.Eventually(t, 30*time.Second, "the blob restored", func() bool { return st.Has(ref) })
	if absent := blob.Of([]byte("held nowhere")); s.restoreFor("pi-1", absent) {
		t.Error("a want for a blob the bucket lacks waits for it")
	}

	refs := map[blob.ID]struct{}{ref: {}}
	gone := s.collectReplica(ctx, refs, []blob.ID{goneLocal}, before)
	slices.SortFunc(gone, func(a, b blob.ID) int { return strings.Compare(a.String(), b.String()) })
	want := []blob.ID{orphan, goneLocal}
	slices.SortFunc(want, func(a, b blob.ID) int { return strings.Compare(a.String(), b.String()) })
	if !slices.Equal(gone, want) {
		t.Errorf("collected %v, want %v", gone, want)
	}
	for id, kept := range map[blob.ID]bool{ref: true, young: true, orphan: false, goneLocal: false} {
		ok, err := s.replica.Has(ctx, id)
		if err != nil || ok != kept || s.inReplica.has(id) != kept {
			t.Errorf("%s: in the bucket %v (%v), known there %v; want %v", id, ok, err, s.inReplica.has(id), kept)
		}
	}
}

// TestOperatorChargeOutlivesItsScheduler: under ha an upload charged to
// an operator names it in the bucket's object, so a successor with an
// empty store of its own charges it to that operator again; a node's
// output names no one (its charge comes from the tasks), and an object
// naming no operator is counted and left uncharged.
func TestOperatorChargeOutlivesItsScheduler(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := haBlobs(t)
	newScheduler := func() *scheduler {
		st, err := blob.Open(blob.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		s := &scheduler{log: slog.New(slog.DiscardHandler), blobStore: st, pullCtx: ctx}
		s.pulls.shares = newShares(1 << 20)
		return s
	}
	a := newScheduler()
	a.replica = b
	put := func(data, owner string) blob.ID {
		t.Helper()
		id, err := a.blobStore.Put(bytes.NewReader([]byte(data)), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.pulls.shares.charge(owner, id); err != nil {
			t.Fatal(err)
		}
		if err := a.replicate(ctx, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	upload := put("an operator's upload", "operator/ops")
	put("a node's output", "pi-1")
	forged, err := a.blobStore.Put(bytes.NewReader([]byte("forged")), 6)
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.blobStore.OpenBlob(forged)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := b.Put(ctx, forged, f, "operator/a b"); err != nil {
		t.Fatal(err)
	}

	succ := newScheduler()
	objs, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	succ.learnReplica(objs)
	succ.replica = b
	succ.restoreOperators()
	if u := succ.pulls.shares.usedBy("operator/ops"); u != upload.Size {
		t.Errorf("the successor charges %d bytes to the operator, want its upload's %d", u, upload.Size)
	}
	if u := succ.pulls.shares.usedBy("pi-1"); u != 0 {
		t.Errorf("the successor charges %d bytes to the node from the bucket, want none", u)
	}
	if o := succ.pulls.shares.ownerOf(forged); o != "" {
		t.Errorf("an object naming no operator is charged to %q", o)
	}
	if n := succ.pulls.ownerFaults.Load(); n != 1 {
		t.Errorf("%d owner faults counted, want the forged object's 1", n)
	}
}
