package serve

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
)

// openBlobs opens the scheduler's blob store (blobs.dir), under ha the
// region's blob bucket it caches (blobreplica.go), and its endpoint, which
// sends on each node's blob command topic. attachBlobs subscribes it
// to every node's blob topic once the session exists.
func (s *scheduler) openBlobs(ctx context.Context) error {
	st, err := blob.Open(blob.Options{Dir: s.cfg.BlobDir(), Quota: s.cfg.BlobQuota(),
		Logger: s.o.Logger.With("component", "blobs")})
	if err != nil {
		return fmt.Errorf("opening the blob store in %s: %w", s.cfg.BlobDir(), err)
	}
	e, err := blob.NewEndpoint(blob.EndpointOptions{Store: st, Send: blob.SchedulerSend(s.sess, s.topics),
		OnOffer: s.onOffer, Restore: s.restoreFor, OnServed: s.onServed, Logger: s.o.Logger.With("component", "blobs")})
	if err == nil {
		err = s.openReplica(ctx)
	}
	if err != nil {
		_ = st.Close()
		return err
	}
	s.blobStore, s.blobs = st, e
	s.pulls.shares = newShares(s.cfg.BlobNodeShare())
	if s.pulls.owners, err = openOwnerRecords(s.cfg.BlobDir()); err != nil {
		n := s.pulls.ownerFaults.Add(1)
		s.log.Warn("operators' uploads are charged until a restart only", "err", err, "faults_total", n)
	}
	s.pulls.onFetch = s.onTransfer
	return nil
}

// attachBlobs subscribes the endpoint to the nodes' and operators' frames: a session
// subscription, made again on every connection, with the embedded broker
// or an external one (not the embedded broker's Receiver: frames are not
// acknowledged, a lost one is asked for again).
func (s *scheduler) attachBlobs(ctx context.Context) error {
	s.pullCtx = ctx // before the first frame can start a pull
	if err := blob.AttachScheduler(ctx, s.sess, s.topics, s.blobs); err != nil {
		return fmt.Errorf("blob topics: %w", err)
	}
	return s.sess.Subscribe(ctx, s.topics.AllTaskStatus(), 1, func(m session.Message) {
		if st, err := task.DecodeStatus(m.Payload); err == nil {
			s.onTaskStatus(st)
		}
	})
}

// blobLoop serves the nodes' wants until ctx ends.
func (s *scheduler) blobLoop(ctx context.Context) {
	_ = s.blobs.Run(ctx) // returns nil when ctx ends
}

// Task data the scheduler moves by itself, learnt from the task statuses
// it announces (only an applied outcome has one):
//   - the outputs of a succeeded attempt are fetched from its node, so
//     every output of a task ends up in one place;
//   - an input held on a node (from: node/<id>) is fetched from that node
//     when the task is assigned to another one, whose agent asks the
//     scheduler for it meanwhile and gets it once it is here.
//
// A pull that fails (the node went away) is tried again at the next
// status of the task, or the next start.

// pullTimeout bounds one pull: 20 MB at 1 Mbit/s take under 3 minutes.
const pullTimeout = 10 * time.Minute

// maxPulls bounds the pulls in progress; more wait their turn.
const maxPulls = 4

// pulls tracks the scheduler's own fetches, one per blob.
type pulls struct {
	mu      sync.Mutex
	active  map[blob.ID]bool
	slots   chan struct{}
	onFetch func(node string, id blob.ID, st blob.FetchStats) // measured transfers; may be nil
	// shares bounds what each node's blobs take of the store
	// (blobs.node_share): a pull past a node's share is not started.
	shares  *shares
	refused atomic.Int64 // pulls refused by a share
	logged  atomic.Int64 // unix seconds of the last refusal logged
	// owners records the operator of each upload charged to one
	// (blobowners.go); nil when its directory could not be made.
	owners      *ownerRecords
	ownerFaults atomic.Int64 // owner records not written, removed or read
	ownerLogged atomic.Int64 // unix seconds of the last fault logged
}

// onTaskStatus starts the pulls a status calls for.
func (s *scheduler) onTaskStatus(st task.Status) {
	switch st.State {
	case task.StateSucceeded:
		if st.Result == nil || st.Node == "" {
			return
		}
		for _, name := range slices.Sorted(maps.Keys(st.Result.Outputs)) {
			_ = s.pull(st.Node, st.Result.Outputs[name], "output "+name+" of "+st.Task, nil) // refusals are logged
		}
	case task.StateAssigned, task.StateRunning:
		if st.Spec == nil {
			return
		}
		for _, name := range slices.Sorted(maps.Keys(st.Spec.Inputs)) {
			in := st.Spec.Inputs[name]
			if from := in.FromNode(); from != "" && from != st.Node {
				_ = s.pull(from, in.Blob, "input "+name+" of "+st.Task, nil) // refusals are logged
			}
		}
	}
}

// init makes the maps and slots. Called with mu held.
func (p *pulls) init() {
	if p.active == nil {
		p.active, p.slots = map[blob.ID]bool{}, make(chan struct{}, maxPulls)
	}
}

// start marks id as being brought in, unless it is already: false then.
func (p *pulls) start(id blob.ID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if p.active[id] {
		return false
	}
	p.active[id] = true
	return true
}

func (p *pulls) finish(id blob.ID) {
	p.mu.Lock()
	delete(p.active, id)
	p.mu.Unlock()
}

// pull fetches id from node in the background unless the scheduler holds
// it (acknowledged) or a pull of it is in progress; done, if not nil, gets
// the outcome of a pull it started. Under ha the pull restores id from the
// region's bucket rather than fetching it when the bucket holds it, and it
// succeeds only once the bucket does (blobreplica.go). The error is the
// share's refusal, which is also logged.
func (s *scheduler) pull(node string, id blob.ID, what string, done func(error)) error {
	if s.acknowledged(id) {
		return nil
	}
	p := &s.pulls
	p.mu.Lock()
	p.init()
	if p.active[id] {
		p.mu.Unlock()
		return nil
	}
	charged, err := p.shares.charge(node, id)
	if err != nil {
		p.mu.Unlock()
		// A node reporting outputs can trigger this at will: one log a second.
		n := p.refused.Add(1)
		if now, last := time.Now().Unix(), p.logged.Load(); now > last && p.logged.CompareAndSwap(last, now) {
			s.log.Warn("task data not fetched", "what", what, "node", node, "blob", id.String(), "err", err, "refused_total", n)
		}
		return err
	}
	p.active[id] = true
	p.mu.Unlock()
	go func() {
		defer p.finish(id)
		p.slots <- struct{}{}
		defer func() { <-p.slots }()
		ctx, cancel := context.WithTimeout(s.pullCtx, pullTimeout)
		defer cancel()
		if charged {
			s.recordOwner(node, id) // before any byte of it is held
		}
		var st blob.FetchStats
		var err error
		restored := s.fromReplica(ctx, id, what)
		if !restored {
			st, err = s.blobs.Fetch(ctx, node, id)
		}
		fetched := err == nil
		if fetched {
			err = s.replicate(ctx, id)
		}
		if done != nil {
			defer func() { done(err) }()
		}
		if err != nil {
			if !s.blobStore.Has(id) && s.blobStore.Written(id) == 0 {
				s.refund(id) // nothing of it is held: a partial blob stays charged
			}
			if s.pullCtx.Err() == nil {
				msg := "task data not fetched"
				if fetched {
					msg = "task data not stored in the region's blob bucket; not acknowledged"
				}
				s.log.Warn(msg, "what", what, "node", node, "blob", id.String(), "err", err)
			}
			return
		}
		if restored {
			return
		}
		s.log.Info("task data fetched", "what", what, "node", node, "blob", id.String(), "bytes", st.Written,
			"resumed_from", st.Resumed, "elapsed_ms", st.Elapsed.Milliseconds(), "retries", st.Retries)
		if p.onFetch != nil {
			p.onFetch(node, id, st)
		}
	}()
	return nil
}
