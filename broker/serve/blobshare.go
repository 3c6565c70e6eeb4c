package serve

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/blob"
)

// ErrNodeShare: fetching a blob from a node would take that node past its
// share of the scheduler's blob store (blobs.node_share).
var ErrNodeShare = errors.New("node's share of the blob store exceeded")

// shares charges every blob the scheduler fetches from a node (a task's
// outputs, an input held there) to that node, with its full size from the
// moment the fetch starts, as the store reserves it. A node whose charges
// would pass the limit gets nothing more fetched, so a node — a broken one,
// or a hostile one holding a node's credentials and reporting outputs of
// any size — fills at most its share of the store, and the rest stays for
// the other nodes' transfers.
//
// At start the charges are restored from the task store (restoreShares):
// every blob the store holds that a task says a node produced or held is
// charged to that node again, so a restart does not give a node a fresh
// share. An operator's uploads, which name no owner in the tasks, are
// charged to it again from the records kept beside the blobs
// (blobowners.go). It is safe for concurrent use.
type shares struct {
	limit int64
	mu    sync.Mutex
	used  map[string]int64   // node → bytes charged
	owner map[blob.ID]string // charged blob → its node
}

func newShares(limit int64) *shares {
	return &shares{limit: limit, used: map[string]int64{}, owner: map[blob.ID]string{}}
}

// charge charges id to node, or returns an error wrapping ErrNodeShare when
// that would pass the limit. A blob already charged (to any node) is not
// charged again: charged says whether this call charged it.
func (s *shares) charge(node string, id blob.ID) (charged bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.owner[id]; ok {
		return false, nil
	}
	if u := s.used[node]; u+id.Size > s.limit {
		return false, fmt.Errorf("%w: node %q: %s needs %d bytes, %d of its share of %d are in use", ErrNodeShare, node, id, id.Size, u, s.limit)
	}
	s.owner[id] = node
	s.used[node] += id.Size
	return true, nil
}

// restore charges id to node whatever the limit (a node already past its
// share at a restart gets nothing more fetched); a blob already charged is
// left as it is.
func (s *shares) restore(node string, id blob.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.owner[id]; ok {
		return
	}
	s.owner[id] = node
	s.used[node] += id.Size
}

// refund takes back id's charge: the store holds none of it. It returns
// the node (or operator) id was charged to, "" when none.
func (s *shares) refund(id blob.ID) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	node, ok := s.owner[id]
	if !ok {
		return ""
	}
	delete(s.owner, id)
	if s.used[node] -= id.Size; s.used[node] <= 0 {
		delete(s.used, node)
	}
	return node
}

// ownerOf returns the node (or operator) id is charged to, "" if none
// (and for no shares).
func (s *shares) ownerOf(id blob.ID) string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owner[id]
}

// usedBy returns the bytes charged to node.
func (s *shares) usedBy(node string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used[node]
}

// restoreShares charges the blobs the store holds, whole or in part, and
// under ha those the region's blob bucket holds, to the nodes the task
// store says they came from (taskengine.BlobOwners), after the operators'
// uploads are charged to their operators again (restoreOperators). It runs
// before the first pull can start; it reads every finished task, unless
// the blob store is empty. A failure to read the tasks is logged
// and leaves those blobs uncharged: the shares protect the store, they do
// not decide what the scheduler keeps.
func (s *scheduler) restoreShares(ctx context.Context, st *taskengine.Store, ld taskengine.Loaded) {
	s.restoreOperators()
	if used, _ := s.blobStore.Usage(); used == 0 && s.inReplica.empty() {
		return // nothing to charge: no reading every finished task
	}
	restored, bytes := 0, int64(0)
	err := taskengine.BlobOwners(ctx, st, ld, func(id blob.ID, node string) {
		if !s.blobStore.Has(id) && s.blobStore.Written(id) == 0 && !s.inReplica.has(id) {
			return
		}
		before := s.pulls.shares.usedBy(node)
		s.pulls.shares.restore(node, id)
		if s.pulls.shares.usedBy(node) > before {
			restored++
			bytes += id.Size
		}
	})
	if err != nil {
		s.log.Warn("nodes' shares of the blob store not restored in full", "err", err)
	}
	if restored > 0 {
		s.log.Info("nodes' shares of the blob store restored", "blobs", restored, "bytes", bytes)
	}
}

// held says the scheduler holds some of id: in its store, whole or in
// part, or under ha in the region's bucket.
func (s *scheduler) held(id blob.ID) bool {
	return s.blobStore.Has(id) || s.blobStore.Written(id) > 0 || s.inReplica.has(id)
}

// restoreOperators charges each upload the scheduler holds to the
// operator the region's bucket (under ha) or its record names, first:
// such a blob was charged to its operator before any node, as the first
// charge of a blob stands. A record of a blob no longer held is removed;
// a bad one, or an object naming no operator, is logged and counted, and
// leaves its blob to the tasks' charges or none: the shares protect the
// store, a record lost does not stop the scheduler.
func (s *scheduler) restoreOperators() {
	p := &s.pulls
	restored, bytes, bad := 0, int64(0), 0
	var err error
	charge := func(id blob.ID, peer string) {
		before := p.shares.usedBy(peer)
		p.shares.restore(peer, id)
		if p.shares.usedBy(peer) > before {
			restored++
			bytes += id.Size
		}
	}
	for id, peer := range s.replicaOwners {
		if !operatorPeer(peer) {
			bad++
			if err == nil {
				err = fmt.Errorf("%w: the bucket's object %s names %.64q", errBadOwner, id, peer)
			}
			continue
		}
		charge(id, peer)
	}
	s.replicaOwners = nil
	if p.owners != nil {
		n, lerr := p.owners.load(func(id blob.ID, peer string) {
			if !s.held(id) {
				if err := p.owners.remove(id); err != nil {
					s.ownerFault("a stale record not removed", id, err)
				}
				return
			}
			charge(id, peer)
		})
		if bad += n; err == nil {
			err = lerr
		}
	}
	if bad > 0 {
		n := p.ownerFaults.Add(int64(bad))
		s.log.Warn("blob owner records ignored: those uploads are not charged to their operators", "records", bad, "err", err, "faults_total", n)
	}
	if restored > 0 {
		s.log.Info("operators' shares of the blob store restored", "blobs", restored, "bytes", bytes)
	}
}

// recordOwner records the operator an upload was just charged to; peer
// naming a node needs none. A record not written leaves the charge to
// the scheduler's run.
func (s *scheduler) recordOwner(peer string, id blob.ID) {
	if _, op := blob.OperatorOf(peer); !op || s.pulls.owners == nil {
		return
	}
	if err := s.pulls.owners.put(id, peer); err != nil {
		s.ownerFault("an upload's operator not recorded: its charge lasts until a restart", id, err)
	}
}

// refund takes back id's charge, and its operator's record.
func (s *scheduler) refund(id blob.ID) {
	peer := s.pulls.shares.refund(id)
	if _, op := blob.OperatorOf(peer); !op || s.pulls.owners == nil {
		return
	}
	if err := s.pulls.owners.remove(id); err != nil {
		s.ownerFault("a refunded upload's record not removed", id, err)
	}
}

// ownerFault counts a failure of the owner records and logs it, at most
// once a second: a failing disk fails every upload.
func (s *scheduler) ownerFault(msg string, id blob.ID, err error) {
	p := &s.pulls
	n := p.ownerFaults.Add(1)
	if now, last := time.Now().Unix(), p.ownerLogged.Load(); now > last && p.ownerLogged.CompareAndSwap(last, now) {
		s.log.Warn(msg, "blob", id.String(), "err", err, "faults_total", n)
	}
}
