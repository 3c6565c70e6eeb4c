package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestInputResumesAfterAPartition: pi-edge, behind a shaped link (8 Mbit/s,
// 80 ms round trips), runs a sha256 task whose input the scheduler holds.
// A third of the way through the input's transfer the link is cut, for
// less than the scheduler's node-lost grace, and healed. The transfer
// resumes where pi-edge's partial blob stands: what crosses the link
// after the heal is the rest of the blob, not the whole of it again. The
// blob verifies, the task succeeds in its one attempt with the input's
// true digest, and pi-edge holds the input byte for byte.
//
// `make test` moves 6 MiB and cuts for 4 s (over the agent's 3 s retry);
// the soak (TETHER_SOAK, `make soak`) moves 20 MiB and cuts for 10 s.
func TestInputResumesAfterAPartition(t *testing.T) {
	t.Parallel()
	size, cut := 6<<20, 4*time.Second
	if soak() {
		size, cut = 20<<20, 10*time.Second
	}
	const node = "pi-edge"
	s := newTaskSite(t)
	data := randomBytes(size, 61)
	id := putSchedulerBlob(t, s.site, data)
	s.startScheduler()
	link := testenv.NewShapedProxy(t, fmt.Sprintf("127.0.0.1:%d", s.port), testenv.Shape{Delay: 40 * time.Millisecond, Mbps: 8})
	agent := s.startAgent(node, "--broker", link.URL())
	s.waitFleet(30*time.Second, "node online", func(m map[string]protocol.FleetNode) bool { return m[node].Online })
	op := newOperator(t, s.site)
	spec := task.Spec{ID: "hash-partitioned", Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinSHA256},
		Inputs: map[string]task.Input{"data": {Blob: id}}}
	if r := op.submit(spec); !r.OK {
		t.Fatalf("submit: %+v", r)
	}

	blobs := filepath.Join(s.dir, "data-"+node, "blobs")
	partial := filepath.Join(blobs, "partial", id.Hex()+"-"+strconv.FormatInt(id.Size, 10))
	held := func() int64 { // what pi-edge's store has written of the input
		fi, err := os.Stat(partial)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	testenv.Eventually(t, 90*time.Second, "a third of the input on "+node, func() bool { return held() >= id.Size/3 })
	link.Cut()
	atCut := held()
	time.Sleep(cut) // kept: the partition's length is the condition under test
	atHeal, sentBefore := held(), link.Downstream()
	link.Heal()
	healed := time.Now()

	final := op.waitTasks(120*time.Second, "the task ended", func(m map[string]task.Status) bool {
		return task.Terminal(m[spec.ID].State)
	})[spec.ID]
	sentAfter := link.Downstream() - sentBefore
	t.Logf("cut at %d of %d bytes for %v; %d held at the heal; %d bytes crossed the link after it; ended %v after the heal",
		atCut, id.Size, cut, atHeal, sentAfter, time.Since(healed).Round(100*time.Millisecond))

	sum := sha256.Sum256(data)
	if final.State != task.StateSucceeded || final.Node != node || final.Result == nil || final.Result.Output != hex.EncodeToString(sum[:]) {
		t.Fatalf("task %s on %s, result %+v (error %q); want succeeded on %s with output %x",
			final.State, final.Node, final.Result, final.Error, node, sum)
	}
	if final.Attempt != 1 || len(final.Attempts) != 1 {
		t.Errorf("attempt %d, attempts %+v: the partition (shorter than the node-lost grace) moved the task", final.Attempt, final.Attempts)
	}
	if atCut == 0 || atCut >= id.Size {
		t.Fatalf("the cut missed the transfer: %d of %d bytes held at the cut", atCut, id.Size)
	}
	// Over the cut only what the agent had already received is written.
	if atHeal < atCut || atHeal-atCut > blob.DefaultWindow {
		t.Errorf("held %d at the cut and %d at the heal: more than a window arrived while cut off", atCut, atHeal)
	}
	// Resumed, not restarted: after the heal the link carries the rest of
	// the blob, plus the node's other traffic and what a resumed transfer
	// may carry twice (chunks of wants sent before the cut and served
	// after the heal: at most the window outstanding at the cut). Two
	// windows cover both; a restart would carry the whole blob again.
	if limit := id.Size - atHeal + 2*blob.DefaultWindow; sentAfter > limit || sentAfter >= id.Size {
		t.Errorf("%d bytes crossed the link after the heal; the %d bytes not yet held (plus two %d-byte windows) allow at most %d: the transfer started over",
			sentAfter, id.Size-atHeal, blob.DefaultWindow, min(limit, id.Size-1))
	}

	// The agent's own account: one fetch wrote the whole input once and
	// asked again after the cut.
	m := regexp.MustCompile(`msg="input fetched" .*? bytes=(\d+) resumed_from=(\d+) elapsed_ms=\d+ retries=(\d+)`).
		FindStringSubmatch(agent.out.String())
	if m == nil {
		t.Fatalf("%s logged no fetched input", node)
	}
	if m[1] != strconv.FormatInt(id.Size, 10) || m[2] != "0" || m[3] == "0" {
		t.Errorf("%s fetched %s bytes, resumed from %s, after %s retries; want %d bytes written once by one fetch that asked again after the cut",
			node, m[1], m[2], m[3], id.Size)
	}
	got, err := os.ReadFile(filepath.Join(blobs, "sha256", id.Hex()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("%s holds an input that differs from the scheduler's", node)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("a partial input is left on %s: %v", node, err)
	}
}
