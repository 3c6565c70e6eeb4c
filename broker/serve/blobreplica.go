package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tether-edge/tether/broker/ha"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/blob"
)

// Under ha the scheduler's blob store is a cache of the region's blob
// bucket (ha.Blobs), so a successor serves what this scheduler
// acknowledged:
//   - a blob is in the bucket before the scheduler acknowledges it: an
//     operator's upload is answered have, and a pulled output or input
//     counts as held (pull skips it), only once replicate stored it; a
//     blob the bucket holds counts as held whether the local store has it
//     or not;
//   - a blob the local store lacks is restored from the bucket, verified
//     against its id, before the scheduler fetches it from a node or
//     answers a want for it missing;
//   - the collection deletes from both (blobgc.go), and the nodes' and
//     operators' shares count what the bucket holds (blobshare.go): an
//     operator's upload names its operator in the object's metadata.
//
// The bucket takes only what the local store took first, past its quota
// and the nodes' shares, so those bound it too; ha.blob_bytes bounds it
// as a whole.

// replica is the region's blob bucket as the scheduler uses it.
type replica interface {
	Has(ctx context.Context, id blob.ID) (bool, error)
	Put(ctx context.Context, id blob.ID, r io.Reader, owner string) error
	Restore(ctx context.Context, id blob.ID, st *blob.Store) error
	Delete(ctx context.Context, id blob.ID) error
	List(ctx context.Context) ([]ha.Object, error)
	// The region's link estimates (linkstore.go).
	PutLinks(ctx context.Context, data []byte) error
	Links(ctx context.Context) ([]byte, error)
}

var _ replica = (*ha.Blobs)(nil)

// replicaTimeout bounds one transfer to or from the bucket, on the
// cluster's network: 4 GiB at 100 Mbit/s take under 6 minutes.
const replicaTimeout = 10 * time.Minute

// lookupTimeout bounds a want's wait for the bucket's answer whether it
// holds a blob.
const lookupTimeout = 2 * time.Second

// replicaSet is the blobs known to be in the bucket: listed at start, or
// stored, restored or found there since. Safe for concurrent use.
type replicaSet struct {
	mu  sync.Mutex
	ids map[blob.ID]time.Time // → when the bucket stored it, as far as known
}

func (r *replicaSet) add(id blob.ID, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = map[blob.ID]time.Time{}
	}
	if _, ok := r.ids[id]; !ok {
		r.ids[id] = at
	}
}

func (r *replicaSet) has(id blob.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ids[id]
	return ok
}

func (r *replicaSet) empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids) == 0
}

func (r *replicaSet) remove(id blob.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.ids, id)
}

// storedBefore returns the blobs in the set stored before t.
func (r *replicaSet) storedBefore(t time.Time) []blob.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []blob.ID
	for id, at := range r.ids {
		if at.Before(t) {
			ids = append(ids, id)
		}
	}
	return ids
}

// openReplica opens the region's blob bucket when the scheduler runs
// highly available, and learns what it holds.
func (s *scheduler) openReplica(ctx context.Context) error {
	if s.lead == nil {
		return nil
	}
	b, err := s.lead.term.Blobs(ctx, s.cfg.HABlobBytes())
	if err != nil {
		return fmt.Errorf("the region's blob bucket: %w", err)
	}
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	objs, err := b.List(lctx)
	if err != nil {
		return fmt.Errorf("the region's blob bucket: %w", err)
	}
	s.learnReplica(objs)
	s.restoreRegionLinks(ctx, b)
	s.replica = b
	s.log.Info("the region's blob bucket opened", "blobs", len(objs), "max_bytes", s.cfg.HABlobBytes())
	return nil
}

// learnReplica notes the blobs the bucket holds, and the operators its
// objects say they are charged to (restoreOperators charges them).
func (s *scheduler) learnReplica(objs []ha.Object) {
	for _, o := range objs {
		s.inReplica.add(o.ID, o.Stored)
		if o.Owner != "" {
			if s.replicaOwners == nil {
				s.replicaOwners = map[blob.ID]string{}
			}
			s.replicaOwners[o.ID] = o.Owner
		}
	}
}

// acknowledged says the scheduler holds id as it acknowledges blobs: in
// its store or, under ha, in the region's bucket, whatever its store has
// (a want restores it from there): a successor does not copy the bucket
// when its predecessor's task statuses call for their outputs again.
func (s *scheduler) acknowledged(id blob.ID) bool {
	if s.replica == nil {
		return s.blobStore.Has(id)
	}
	return s.inReplica.has(id)
}

// errNotReplicated wraps replicate's failures.
var errNotReplicated = errors.New("not stored in the region's blob bucket")

// replicateTries is how often replicate tries, a second apart and then
// two: a bucket whose stream elects a leader (a cluster node's loss)
// answers again within that.
const replicateTries = 3

// replicate stores id, which the local store holds, in the region's
// bucket; nothing to do without ha or when the bucket holds it. An
// upload charged to an operator names it in the object, so a successor
// charges it too. A write refused for the lease (ha's taskengine.ErrFenced)
// is not tried again.
func (s *scheduler) replicate(ctx context.Context, id blob.ID) error {
	if s.replica == nil || s.inReplica.has(id) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, replicaTimeout)
	defer cancel()
	var err error
	for try := 1; ; try++ {
		if err = s.replicateOnce(ctx, id); err == nil {
			s.inReplica.add(id, time.Now())
			return nil
		}
		if try == replicateTries || errors.Is(err, taskengine.ErrFenced) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(try) * time.Second):
			continue
		}
		break
	}
	return fmt.Errorf("%w: %w", errNotReplicated, err)
}

func (s *scheduler) replicateOnce(ctx context.Context, id blob.ID) error {
	f, err := s.blobStore.OpenBlob(id)
	if err != nil {
		return err
	}
	defer f.Close()
	owner := s.pulls.shares.ownerOf(id)
	if _, op := blob.OperatorOf(owner); !op {
		owner = "" // a node's charge is restored from the tasks
	}
	return s.replica.Put(ctx, id, f, owner)
}

// restore brings id from the region's bucket into the local store,
// verified; an error wrapping blob.ErrNotFound when the bucket lacks it
// (and always without ha).
func (s *scheduler) restore(ctx context.Context, id blob.ID) error {
	if s.replica == nil {
		return fmt.Errorf("%w: no blob bucket without ha", blob.ErrNotFound)
	}
	ctx, cancel := context.WithTimeout(ctx, replicaTimeout)
	defer cancel()
	if err := s.replica.Restore(ctx, id, s.blobStore); err != nil {
		return err
	}
	s.inReplica.add(id, time.Now())
	return nil
}

// restoreFor is the endpoint's Restore: a want for a blob the local store
// lacks waits for one the bucket holds, which is restored meanwhile (one
// restore or pull of a blob at a time: pulls.active). It answers within
// lookupTimeout.
func (s *scheduler) restoreFor(peer string, id blob.ID) bool {
	if s.replica == nil {
		return false
	}
	p := &s.pulls
	p.mu.Lock()
	busy := p.active[id]
	p.mu.Unlock()
	if busy {
		return true // a pull or restore in progress installs it
	}
	ctx, cancel := context.WithTimeout(s.pullCtx, lookupTimeout)
	ok, err := s.replica.Has(ctx, id)
	cancel()
	if err != nil || !ok {
		return false
	}
	if !p.start(id) {
		return true
	}
	go func() {
		defer p.finish(id)
		p.slots <- struct{}{}
		defer func() { <-p.slots }()
		if err := s.restore(s.pullCtx, id); err != nil {
			if s.pullCtx.Err() == nil {
				s.log.Warn("task data not restored from the region's blob bucket", "blob", id.String(), "for", peer, "err", err)
			}
			return
		}
		s.log.Info("task data restored from the region's blob bucket", "blob", id.String(), "for", peer)
	}()
	return true
}

// fromReplica restores id from the bucket before a pull fetches it from
// a node: true when it is now held. A bucket without it, or a refused
// object, leaves the fetch to the node.
func (s *scheduler) fromReplica(ctx context.Context, id blob.ID, what string) bool {
	if s.replica == nil || s.blobStore.Has(id) {
		return false
	}
	err := s.restore(ctx, id)
	if err == nil {
		s.log.Info("task data restored from the region's blob bucket", "what", what, "blob", id.String())
		return true
	}
	if !errors.Is(err, blob.ErrNotFound) && ctx.Err() == nil {
		s.log.Warn("task data not restored from the region's blob bucket; fetching it", "what", what, "blob", id.String(), "err", err)
	}
	return false
}
