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
	age := func(id blob.ID, by time.Duration) {
		when := time.Now().Add(-by)
		if err := os.Chtimes(filepath.Join(dir, "sha256", id.Hex()), when, when); err != nil {
			t.Fatal(err)
		}
	}
	put := func(b string, by time.Duration) blob.ID {
		id, err := st.Put(bytes.NewReader([]byte(b)), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		age(id, by)
		return id
	}
	// The input is new until its task is submitted (as an upload is), so
	// no collection can take it before the submission is in; then it is
	// made old, and only its task's reference keeps it.
	orphan, input, upload := put("nobody's", 2*time.Hour), put("a pending task's input", 0), put("about to be submitted", 0)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	held := func(id blob.ID) bool {
		_, err := os.Stat(filepath.Join(dir, "sha256", id.Hex()))
		return err == nil
	}

	submitPending(t, dir, "waits", input)
	time.Sleep(3 * blobGCEvery) // kept: a collection that began before the submission was in has ended
	age(input, 2*time.Hour)

	testenv.Eventually(t, 10*time.Second, "the unreferenced old blob deleted", func() bool { return !held(orphan) })
	time.Sleep(5 * blobGCEvery) // kept: further collections, with the input old, must keep the other two
	if !held(input) {
		t.Error("the collection deleted a pending task's input")
	}
	if !held(upload) {
		t.Error("the collection deleted a blob written a moment ago")
	}
}

// TestSubmissionTouchesItsInputs: a submitted task's input held by the
// scheduler is marked as just used before the task is committed, so a
// collection that read the tasks' references before the submission cannot
// delete it (blob.Store.Touch); an input held on a node is not the
// scheduler's to touch.
func TestSubmissionTouchesItsInputs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	st, err := blob.Open(blob.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	b := "an input uploaded two hours ago"
	id, err := st.Put(bytes.NewReader([]byte(b)), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "sha256", id.Hex())
	long := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(file, long, long); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	submitPending(t, dir, "late", id)
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.ModTime().Before(before) {
		t.Fatalf("the input's file still dates from %v after its task's submission", fi.ModTime())
	}
}

// submitPending starts a scheduler on the blob store in dir and submits a
// task named id whose input is in, which no node can take (it stays
// pending); it returns once the submission is answered.
func submitPending(t *testing.T, dir, id string, in blob.ID) {
	t.Helper()
	s := newSiteCfg(t, nil, func(c *config.Config) { c.Blobs.Dir = dir })
	topics, _ := protocol.NewTopics("default")
	ops := dial(t, s.url, "ops@t", "ops", "ops-pw")
	replies := listen(t, ops, topics.Replies("ops"))
	spec := task.Spec{ID: id, Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinSHA256},
		Inputs:      map[string]task.Input{"data": {Blob: in}},
		Constraints: task.Constraints{Labels: map[string]string{"nobody": "has-this"}}}
	publishJSON(t, ops, topics.TaskSubmit(), task.SubmitRequest{V: 1, RequestID: "r1", ReplyTo: topics.Reply("ops", "r1"), Spec: spec})
	testenv.Eventually(t, 10*time.Second, "the submission's reply", func() bool { return len(replies.all()) > 0 })
}
