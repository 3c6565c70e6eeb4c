// The transfer over a real broker is tested from outside the package:
// broker/mqttd imports pkg/task, which imports this package.
package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/mqttd"
	"github.com/tether-edge/tether/broker/mqttd/mqttdtest"
	"github.com/tether-edge/tether/pkg/backoff"
	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/testenv"
)

// site is the embedded broker with its ACLs, a scheduler's endpoint and a
// node's endpoint, the node reaching the broker through a testenv.CutProxy.
type site struct {
	t      *testing.T
	ctx    context.Context
	topics protocol.Topics
	proxy  *testenv.CutProxy
	sched  *side
	node   *side
	wg     sync.WaitGroup
}

type side struct {
	sess  *session.Session
	store *blob.Store
	ep    *blob.Endpoint
	dir   string
	stop  context.CancelFunc
	done  sync.WaitGroup
}

func newSite(t *testing.T) *site {
	t.Helper()
	srv, url := mqttdtest.Start(t, mqttd.Options{Region: "r1", AllowAnonymous: true, SchedulerUsers: []string{"sched"}})
	ctx, cancel := context.WithCancel(context.Background())
	s := &site{t: t, ctx: ctx}
	t.Cleanup(func() { cancel(); s.wg.Wait() })
	s.topics, _ = protocol.NewTopics("r1")
	s.proxy = testenv.NewCutProxy(t, srv.Addr().String())
	s.sched = s.startSide("sched", url, t.TempDir())
	s.node = s.startSide("node-a", s.proxy.URL(), t.TempDir())
	return s
}

// startSide connects user through url with a store in dir and runs its
// endpoint, wired as the scheduler or as node node-a.
func (s *site) startSide(user, url, dir string) *side {
	t := s.t
	t.Helper()
	sess, err := session.New(session.Options{Brokers: []string{url}, ClientID: user, Username: user,
		KeepAlive: 2 * time.Second, Backoff: backoff.Policy{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := blob.Open(blob.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	send := blob.SchedulerSend(sess, s.topics)
	if user != "sched" {
		send = blob.NodeSend(sess, s.topics, user)
	}
	ep, err := blob.NewEndpoint(blob.EndpointOptions{Store: st, Send: send, Retry: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if user == "sched" {
		err = blob.AttachScheduler(s.ctx, sess, s.topics, ep)
	} else {
		err = blob.AttachNode(s.ctx, sess, s.topics, user, ep)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	sd := &side{sess: sess, store: st, ep: ep, stop: cancel, dir: dir}
	for _, run := range []func(context.Context) error{sess.Run, ep.Run} {
		sd.done.Go(func() {
			if err := run(ctx); err != nil {
				t.Errorf("%s: %v", user, err)
			}
		})
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := sess.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sd.close)
	return sd
}

func (sd *side) close() {
	sd.stop()
	sd.done.Wait()
	_ = sd.store.Close()
}

type fetchResult struct {
	st  blob.FetchStats
	err error
}

func (sd *side) fetchAsync(ctx context.Context, peer string, id blob.ID) <-chan fetchResult {
	ch := make(chan fetchResult, 1)
	go func() {
		st, err := sd.ep.Fetch(ctx, peer, id)
		ch <- fetchResult{st, err}
	}()
	return ch
}

// TestTransferSurvivesAPartition: the scheduler fetches a 20 MB blob from a
// node over the broker, through the node's ACL'd topics; the node's link is
// cut for the length of a failed reconnect in the middle. The transfer
// resumes where it stood — the bytes that arrive are the blob plus at most
// a few windows of duplicates, not the blob and a restart from zero — and
// the blob is installed verified. The partition lasts until the fetch has
// asked again at least once, so the resume is the fetch's own, not only
// the broker's queue of its earlier wants.
func TestTransferSurvivesAPartition(t *testing.T) {
	s := newSite(t)
	data := randomBytes(20, 20<<20)
	id, err := s.node.store.Put(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	res := s.sched.fetchAsync(s.ctx, "node-a", id)
	testenv.Eventually(t, 60*time.Second, "6 MB at the scheduler", func() bool { return s.sched.store.Written(id) >= 6<<20 })
	s.proxy.Cut()
	testenv.Eventually(t, 60*time.Second, "the node to fail a reconnect and the fetch to ask again", func() bool {
		return !s.node.sess.Connected() && s.node.sess.ConnectErr() != nil && s.sched.ep.Retries() > 0
	})
	atCut := s.sched.store.Written(id)
	s.proxy.Heal()
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("%d bytes at the cut; stats %+v", atCut, r.st)
	if atCut >= id.Size {
		t.Fatal("the transfer ended before the partition")
	}
	if slack := 4 * blob.DefaultWindow; r.st.Received > id.Size+int64(slack) {
		t.Fatalf("%d bytes arrived for a %d-byte blob: the transfer restarted instead of resuming", r.st.Received, id.Size)
	}
	if got := readBlob(t, s.sched.store, id); !bytes.Equal(got, data) {
		t.Fatal("the blob at the scheduler differs")
	}
}

// TestTransferResumesAfterARestart: a node fetching an 8 MB blob from the
// scheduler stops in the middle (its process ends: store closed, endpoint
// gone); a new endpoint on the reopened store resumes from the partial
// blob's length.
func TestTransferResumesAfterARestart(t *testing.T) {
	s := newSite(t)
	data := randomBytes(21, 8<<20)
	id, err := s.sched.store.Put(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	res := s.node.fetchAsync(ctx, "", id)
	testenv.Eventually(t, 60*time.Second, "3 MB at the node", func() bool { return s.node.store.Written(id) >= 3<<20 })
	cancel()
	if r := <-res; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("stopped fetch: %v", r.err)
	}
	dir := s.node.dir
	s.node.close()
	s.node = s.startSide("node-a", s.proxy.URL(), dir)
	r := <-s.node.fetchAsync(s.ctx, "", id)
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("stats after the restart %+v", r.st)
	if r.st.Resumed < 3<<20 || r.st.Written != id.Size-r.st.Resumed {
		t.Fatalf("resumed at %d, wrote %d: want at least 3 MB kept and only the rest written", r.st.Resumed, r.st.Written)
	}
	if got := readBlob(t, s.node.store, id); !bytes.Equal(got, data) {
		t.Fatal("the blob at the node differs")
	}
}

// TestFetchOfAnAbsentBlob: the peer answers a want for a blob it does not
// hold with a missing, and the fetch fails at once with ErrNotFound.
func TestFetchOfAnAbsentBlob(t *testing.T) {
	s := newSite(t)
	id := blob.Of([]byte("nobody has this"))
	r := <-s.node.fetchAsync(s.ctx, "", id)
	if !errors.Is(r.err, blob.ErrNotFound) || r.st.Retries != 0 {
		t.Fatalf("fetch of an absent blob: %+v %v, want ErrNotFound at once", r.st, r.err)
	}
	r = <-s.sched.fetchAsync(s.ctx, "node-a", id)
	if !errors.Is(r.err, blob.ErrNotFound) {
		t.Fatalf("scheduler's fetch of an absent blob: %v", r.err)
	}
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func readBlob(t *testing.T, s *blob.Store, id blob.ID) []byte {
	t.Helper()
	f, err := s.OpenBlob(id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
