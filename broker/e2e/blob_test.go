package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/session"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// blobPeer is a second client of the scheduler's user with a blob store
// and endpoint of its own: it fetches from real agents what the
// scheduler's own endpoint would, over the same topics and ACL.
type blobPeer struct {
	store *blob.Store
	ep    *blob.Endpoint
}

func newBlobPeer(t testing.TB, s *site) *blobPeer {
	t.Helper()
	topics, _ := protocol.NewTopics("default")
	sess, err := session.New(session.Options{Brokers: []string{s.url()}, ClientID: "tether-scheduler@blob-peer",
		Username: "tether-scheduler", Password: s.password("tether-scheduler"), CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := blob.Open(blob.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := blob.NewEndpoint(blob.EndpointOptions{Store: st, Send: blob.SchedulerSend(sess, topics),
		Retry: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := blob.AttachScheduler(ctx, sess, topics, ep); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() { _ = sess.Run(ctx); done <- struct{}{} }()
	go func() { _ = ep.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done; st.Close() })
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := sess.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	return &blobPeer{store: st, ep: ep}
}

// putAgentBlob stores data in node's blob store (its data dir, as the
// site lays it out) before the agent starts.
func putAgentBlob(t testing.TB, s *site, node string, data []byte) blob.ID {
	t.Helper()
	st, err := blob.Open(blob.Options{Dir: filepath.Join(s.dir, "data-"+node, "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := st.Put(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestAgentServesABlob: a real agent serves a blob from its data dir over
// its MQTT session, and a link cut in the middle of the transfer costs no
// progress: the fetch asks again from what it holds, every byte is written
// once and the blob verifies. A blob the agent does not hold is refused
// with a missing at once rather than waited for.
func TestAgentServesABlob(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.startScheduler()
	data := randomBytes(6<<20, 12)
	id := putAgentBlob(t, s, "pi-blob", data)
	link := newFlappingLink(t, fmt.Sprintf("127.0.0.1:%d", s.port), 3)
	s.startAgent("pi-blob", "--broker", link.url())
	s.waitFleet(20*time.Second, "node online", func(m map[string]protocol.FleetNode) bool { return m["pi-blob"].Online })
	p := newBlobPeer(t, s)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	unknown := blob.Of([]byte("not on the node"))
	if _, err := p.ep.Fetch(ctx, "pi-blob", unknown); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("fetch of a blob the node does not hold: %v, want ErrNotFound", err)
	}

	type result struct {
		st  blob.FetchStats
		err error
	}
	res := make(chan result, 1)
	go func() {
		st, err := p.ep.Fetch(ctx, "pi-blob", id)
		res <- result{st, err}
	}()
	// Cut the node off once a third has arrived, for 3 s.
	for p.store.Written(id) < id.Size/3 {
		select {
		case r := <-res:
			t.Fatalf("fetch ended before the cut: %+v", r)
		case <-ctx.Done():
			t.Fatalf("a third of the blob did not arrive: %d of %d bytes", p.store.Written(id), id.Size)
		case <-time.After(5 * time.Millisecond):
		}
	}
	link.setUp(false)
	at := p.store.Written(id)
	time.Sleep(3 * time.Second) // kept: the partition's length is the condition under test
	link.setUp(true)
	r := <-res
	if r.err != nil {
		t.Fatalf("fetch: %v", r.err)
	}
	t.Logf("cut at %d of %d bytes; fetched in %v, first chunk after %v, %d retries, %d bytes received",
		at, id.Size, r.st.Elapsed.Round(time.Millisecond), r.st.First.Round(time.Millisecond), r.st.Retries, r.st.Received)
	if r.st.Written != id.Size {
		t.Errorf("the fetch wrote %d bytes of a %d-byte blob: it started over (or wrote twice)", r.st.Written, id.Size)
	}
	if r.st.Retries == 0 {
		t.Errorf("no retry after a 3 s cut: the cut missed the transfer")
	}
	path, err := p.store.Path(id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the fetched blob differs from the agent's")
	}
}

// putSchedulerBlob stores data in the scheduler's blob store (blobs.dir:
// "blobs" beside the site's tasks dir) before the scheduler starts.
func putSchedulerBlob(t testing.TB, s *site, data []byte) blob.ID {
	t.Helper()
	st, err := blob.Open(blob.Options{Dir: filepath.Join(s.dir, "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := st.Put(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitSchedulerBlob waits until the scheduler's blob store holds id and
// returns its bytes.
func waitSchedulerBlob(t *testing.T, s *site, id blob.ID, within time.Duration) []byte {
	t.Helper()
	p := filepath.Join(s.dir, "blobs", "sha256", id.Hex())
	var b []byte
	testenv.Eventually(t, within, fmt.Sprintf("the scheduler to hold %s", id), func() bool {
		var err error
		b, err = os.ReadFile(p)
		return err == nil
	})
	return b
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, seed^0xb10b))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestTaskDataEndToEnd: a sha256 builtin task on a real agent. Its input
// held by the scheduler is fetched by the agent, hashed, and the output
// listing is fetched back by the scheduler from the node. A second task's
// input is held on another node (from: node/<id>): the scheduler fetches
// it from there and the worker from the scheduler. Both digests are the
// inputs' true ones.
func TestTaskDataEndToEnd(t *testing.T) {
	t.Parallel()
	s := newTaskSite(t)
	data := randomBytes(3<<20, 7)
	id := putSchedulerBlob(t, s.site, data)
	edge := randomBytes(2<<20+17, 8)
	edgeID := putAgentBlob(t, s.site, "pi-src", edge)
	s.startScheduler("--link-probe", "1s")
	op := newOperator(t, s.site)
	s.startAgent("pi-work", "--label", "role=worker")
	s.startAgent("pi-src")
	s.waitFleet(30*time.Second, "both nodes online", func(m map[string]protocol.FleetNode) bool {
		return m["pi-work"].Online && m["pi-src"].Online
	})

	worker := task.Constraints{Labels: map[string]string{"role": "worker"}}
	specs := []task.Spec{
		{ID: "hash-held", Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinSHA256},
			Inputs: map[string]task.Input{"data": {Blob: id}}, Outputs: []string{task.SHA256Output}, Constraints: worker},
		{ID: "hash-edge", Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinSHA256},
			Inputs: map[string]task.Input{"frame": {Blob: edgeID, From: "node/pi-src"}}, Constraints: worker},
	}
	for _, sp := range specs {
		if r := op.submit(sp); !r.OK {
			t.Fatalf("submit %s: %+v", sp.ID, r)
		}
	}
	final := op.waitTasks(120*time.Second, "both tasks ended", func(m map[string]task.Status) bool {
		return task.Terminal(m["hash-held"].State) && task.Terminal(m["hash-edge"].State)
	})
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	for _, c := range []struct {
		task, want string
	}{{"hash-held", sum(data)}, {"hash-edge", sum(edge)}} {
		st := final[c.task]
		if st.State != task.StateSucceeded || st.Node != "pi-work" || st.Result == nil || st.Result.Output != c.want {
			t.Fatalf("%s: %s on %s, result %+v; want succeeded on pi-work with output %s (error %q)",
				c.task, st.State, st.Node, st.Result, c.want, st.Error)
		}
	}
	out, ok := final["hash-held"].Result.Outputs[task.SHA256Output]
	if !ok {
		t.Fatalf("hash-held lists no output: %+v", final["hash-held"].Result)
	}
	got := waitSchedulerBlob(t, s.site, out, 30*time.Second)
	if want := sum(data) + "  data\n"; string(got) != want {
		t.Fatalf("output listing %q, want %q", got, want)
	}

	// Links measured live: the 2 MiB pulled from pi-src is a throughput
	// sample of its link, the two inputs pi-work fetched from the scheduler
	// (3 MiB and 2 MiB) samples of the direction to it, and the probes
	// (every second here) give both nodes round trips; the fleet rows show
	// them.
	rows := map[string]protocol.FleetNode{}
	s.waitFleet(30*time.Second, "measured links in the fleet rows", func(m map[string]protocol.FleetNode) bool {
		rows = m
		src, work := m["pi-src"].Link, m["pi-work"].Link
		return src != nil && src.MbpsSamples >= 1 && src.RTTSamples >= 2 && work != nil && work.RTTSamples >= 2 && work.UpMbpsSamples >= 2
	})
	for _, n := range []string{"pi-src", "pi-work"} {
		l := rows[n].Link
		t.Logf("%s: round trip %.2f ± %.2f ms (%d probes), %.1f ± %.1f Mbit/s from it (%d transfers), %.1f ± %.1f Mbit/s to it (%d)", n,
			l.RTTMS, l.RTTDevMS, l.RTTSamples, l.Mbps, l.MbpsDev, l.MbpsSamples, l.UpMbps, l.UpMbpsDev, l.UpMbpsSamples)
		if !(l.RTTMS > 0 && l.RTTMS < 1000) {
			t.Errorf("%s: a round trip of %v ms on loopback", n, l.RTTMS)
		}
	}
	if l := rows["pi-src"].Link; !(l.Mbps > 1) {
		t.Errorf("pi-src: %v Mbit/s for a 2 MiB transfer on loopback", l.Mbps)
	}
	if l := rows["pi-work"].Link; !(l.UpMbps > 1) || l.MbpsSamples != 0 {
		t.Errorf("pi-work: %v Mbit/s to it for two inputs on loopback, and %d transfers from it (it sent none of 256 KiB)", l.UpMbps, l.MbpsSamples)
	}
}

// TestOperatorMovesTaskDataWithTheCLI: an operator uploads a file with
// `submit --input`, a real agent hashes it (the sha256 builtin), and the
// operator downloads the output with `task --output`, to a file and to
// stdout — every byte over the operator's own blob topics. An output the
// task does not have, and flags that do not go together, are refused with
// a clear error.
func TestOperatorMovesTaskDataWithTheCLI(t *testing.T) {
	t.Parallel()
	s := newTaskSite(t)
	s.startScheduler()
	s.startAgent("pi-data")
	s.waitFleet(30*time.Second, "agent online", func(m map[string]protocol.FleetNode) bool { return m["pi-data"].Online })

	data := randomBytes(3<<20+5, 11)
	in := filepath.Join(s.dir, "frame.bin")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(s.dir, "hash.yaml")
	if err := os.WriteFile(spec, []byte("id: cli-data\nkind: builtin\nbuiltin: {name: sha256}\noutputs: [sha256]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(data)
	sum := hex.EncodeToString(h[:])
	out, errOut, err := s.cli("submit", "-f", spec, "--input", "data="+in, "--wait")
	if err != nil || !strings.Contains(out, sum) {
		t.Fatalf("submit --input --wait: %v; want the digest %s in its output\n%s%s", err, sum, out, errOut)
	}
	t.Logf("%s", strings.TrimSpace(errOut))
	if !strings.Contains(errOut, "uploaded data: "+blob.Of(data).String()) {
		t.Errorf("submit did not report the upload:\n%s", errOut)
	}

	want := sum + "  data\n"
	file := filepath.Join(s.dir, "listing.txt")
	if out, errOut, err := s.cli("task", "cli-data", "--output", "sha256", "-o", file); err != nil {
		t.Fatalf("task --output -o FILE: %v\n%s%s", err, out, errOut)
	}
	if got, err := os.ReadFile(file); err != nil || string(got) != want {
		t.Fatalf("downloaded output %q (%v), want %q", got, err, want)
	}
	if out, errOut, err := s.cli("task", "cli-data", "--output", "sha256", "-o", "-"); err != nil || out != want {
		t.Fatalf("task --output -o -: %q, %v, want %q\n%s", out, err, want, errOut)
	}
	if _, errOut, err := s.cli("task", "cli-data", "--output", "nosuch", "-o", file); err == nil || !strings.Contains(errOut, `no output "nosuch"; it has sha256`) {
		t.Errorf("an output the task lacks: %v\n%s", err, errOut)
	}
	if _, errOut, err := s.cli("task", "cli-data", "--output", "sha256"); err == nil || !strings.Contains(errOut, "go together") {
		t.Errorf("--output without -o: %v\n%s", err, errOut)
	}
	if _, errOut, err := s.cli("submit", "-f", spec, "--input", "data="+filepath.Join(s.dir, "absent")); err == nil || !strings.Contains(errOut, "no such file") {
		t.Errorf("an input file that does not exist: %v\n%s", err, errOut)
	}
}
