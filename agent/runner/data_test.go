//go:build unix

package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/blob"
	"github.com/tether-edge/tether/pkg/task"
)

// localBlobs is a blob store whose Fetch finds only what it holds: what
// the runner does with task data, without a transfer.
type localBlobs struct{ s *blob.Store }

func (l localBlobs) Fetch(_ context.Context, id blob.ID) error {
	_, err := l.s.Path(id)
	return err
}
func (l localBlobs) Path(id blob.ID) (string, error)           { return l.s.Path(id) }
func (l localBlobs) Put(r io.Reader, n int64) (blob.ID, error) { return l.s.Put(r, n) }

func newBlobs(t *testing.T, data ...[]byte) (localBlobs, []blob.ID) {
	t.Helper()
	s, err := blob.Open(blob.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var ids []blob.ID
	for _, d := range data {
		id, err := s.Put(bytes.NewReader(d), int64(len(d)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return localBlobs{s}, ids
}

func hexSum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// TestSHA256Builtin: the builtin hashes its inputs from the blob store,
// reports the first input's digest, and stores sha256sum's listing as its
// output.
func TestSHA256Builtin(t *testing.T) {
	a, b := []byte("first input\n"), bytes.Repeat([]byte{7}, 300<<10)
	bl, ids := newBlobs(t, a, b)
	f := newFixture(t, func(o *Options) { o.Blobs = bl })
	spec := task.Spec{Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinSHA256},
		Inputs:  map[string]task.Input{"b_in": {Blob: ids[1]}, "a_in": {Blob: ids[0]}},
		Outputs: []string{task.SHA256Output}}
	f.submit(assignment("h1", 1, spec))
	ev := f.waitState("h1", 1, task.EventSucceeded)
	if ev.Result == nil || ev.Result.Output != hexSum(a) {
		t.Fatalf("result %+v, want output %s", ev.Result, hexSum(a))
	}
	out, ok := ev.Result.Outputs[task.SHA256Output]
	if !ok {
		t.Fatalf("no output listed: %+v", ev.Result)
	}
	p, err := bl.Path(out)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if want := hexSum(a) + "  a_in\n" + hexSum(b) + "  b_in\n"; string(got) != want {
		t.Fatalf("listing %q, want %q", got, want)
	}
}

// TestExecTaskData: an exec task reads its input from TETHER_INPUT_<NAME>
// (a read-only copy) and writes its output to TETHER_OUTPUT_<NAME>, which
// is stored as a blob and listed in the result; an output it did not
// write fails the attempt; an input the store cannot get fails it before
// the process starts.
func TestExecTaskData(t *testing.T) {
	in := []byte("hello, edge\n")
	bl, ids := newBlobs(t, in)
	sh := script(t, `
test "$(stat -c %a "$TETHER_INPUT_FRAME")" = 400 || { echo "input mode is not 0400" >&2; exit 9; }
test "$TETHER_INPUTS/frame" = "$TETHER_INPUT_FRAME" || exit 8
tr a-z A-Z < "$TETHER_INPUT_FRAME" > "$TETHER_OUTPUT_LOUD"
`)
	f := newFixture(t, func(o *Options) { o.Allow = []string{sh}; o.Blobs = bl })
	spec := execSpec(sh, nil)
	spec.Inputs = map[string]task.Input{"frame": {Blob: ids[0]}}
	spec.Outputs = []string{"loud"}
	f.submit(assignment("e1", 1, spec))
	ev := f.waitState("e1", 1, task.EventSucceeded)
	out, ok := ev.Result.Outputs["loud"]
	if !ok {
		t.Fatalf("no output listed: %+v (stderr %q)", ev.Result, ev.Result.Stderr)
	}
	if want := blob.Of([]byte(strings.ToUpper(string(in)))); out != want {
		t.Fatalf("output %s, want %s", out, want)
	}

	spec.Outputs = []string{"loud", "never"}
	f.submit(assignment("e2", 1, spec))
	if ev := f.waitState("e2", 1, task.EventFailed); !strings.Contains(ev.Error, "output never: the task did not write it") {
		t.Fatalf("error %q", ev.Error)
	}

	spec.Inputs = map[string]task.Input{"frame": {Blob: blob.Of([]byte("held nowhere"))}}
	spec.Outputs = nil
	f.submit(assignment("e3", 1, spec))
	if ev := f.waitState("e3", 1, task.EventFailed); !strings.Contains(ev.Error, "input frame: blob not found") {
		t.Fatalf("error %q", ev.Error)
	}
}

// TestCollectBlobsClaimsTheJournalsTasks: the blob store's collection is
// told to keep the inputs and outputs of every task the journal holds,
// and nothing else.
func TestCollectBlobsClaimsTheJournalsTasks(t *testing.T) {
	a := []byte("an input\n")
	bl, ids := newBlobs(t, a)
	other := blob.Of([]byte("no task names this"))
	claims := make(chan func(blob.ID) bool, 64)
	f := newFixture(t, func(o *Options) {
		o.Blobs, o.ForgetInterval, o.CollectEvery = bl, 10*time.Millisecond, time.Nanosecond
		o.CollectBlobs = func(keep func(blob.ID) bool) {
			select {
			case claims <- keep:
			default:
			}
		}
	})
	spec := task.Spec{Kind: task.KindBuiltin, Builtin: &task.Builtin{Name: task.BuiltinSHA256},
		Inputs: map[string]task.Input{"a_in": {Blob: ids[0]}}, Outputs: []string{task.SHA256Output}}
	f.submit(assignment("h1", 1, spec))
	ev := f.waitState("h1", 1, task.EventSucceeded)
	out := ev.Result.Outputs[task.SHA256Output]
	deadline := time.After(10 * time.Second)
	for {
		select {
		case keep := <-claims:
			if !keep(out) {
				continue // a collection from before the result was journaled
			}
			if !keep(ids[0]) || keep(other) {
				t.Fatalf("claims: input %v, unrelated %v; want true, false", keep(ids[0]), keep(other))
			}
			return
		case <-deadline:
			t.Fatal("no collection claimed the finished task's output")
		}
	}
}
