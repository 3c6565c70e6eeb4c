package serve

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestBlobStoreIsCollected: the scheduler's blob store holds an old blob
// nothing refers to, an old blob a pending task names as its input, and a
// new unreferenced one (an upload whose task is not submitted yet). The
// collection deletes the first only.
func TestBlobStoreIsCollected(t *testing.T) {
	every, grace := blobGCEvery, blobGrace
	t.Cleanup(func() { blobGCEvery, blobGrace = every, grace }) // after the scheduler stopped
	blobGCEvery, blobGrace = 100*time.Millisecond, time.Minute

	dir := filepath.Join(t.TempDir(), "blobs")
	st, err := blob.Open(blob.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	put := func(b string, age time.Duration) blob.ID {
		id, err := st.Put(bytes.NewReader([]byte(b)), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		when := time.Now().Add(-age)
		if err := os.Chtimes(filepath.Join(dir, "sha256", id.Hex()), when, when); err != nil {
			t.Fatal(err)
		}
		return id
	}
	// The input is old only once its task is submitted: collections run
	// every blobGCEvery from the scheduler's start, and one before the
	// submission would rightly delete an old blob nothing refers to yet.
	orphan, input, upload := put("nobody's", 2*time.Hour), put("a pending task's input", 0), put("about to be submitted", 0)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	held := func(id blob.ID) bool {
		_, err := os.Stat(filepath.Join(dir, "sha256", id.Hex()))
		return err == nil
	}

	s := newSiteCfg(t, nil, func(c *config.Config) { c.Blobs.Dir = dir })
	topics, _ := protocol.NewTopics("default")
	ops := dial(t, s.url, "ops@t", "ops", "ops-pw")
	replies := listen(t, ops, topics.Replies("ops"))
	spec := task.Spec{ID: "waits", Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinSHA256},
		Inputs:      map[string]task.Input{"data": {Blob: input}},
		Constraints: task.Constraints{Labels: map[string]string{"nobody": "has-this"}}} // stays pending
	publishJSON(t, ops, topics.TaskSubmit(), task.SubmitRequest{V: 1, RequestID: "r1", ReplyTo: topics.Reply("ops", "r1"), Spec: spec})
	testenv.Eventually(t, 10*time.Second, "the submission's reply", func() bool { return len(replies.all()) > 0 })
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "sha256", input.Hex()), old, old); err != nil {
		t.Fatal(err)
	}

	testenv.Eventually(t, 10*time.Second, "the unreferenced old blob deleted", func() bool { return !held(orphan) })
	time.Sleep(3 * blobGCEvery) // kept: further collections must keep the other two
	if !held(input) {
		t.Error("the collection deleted a pending task's input")
	}
	if !held(upload) {
		t.Error("the collection deleted a blob written a moment ago")
	}
}
