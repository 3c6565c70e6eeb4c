// Package backendtest is the conformance suite of taskengine.Backend: every
// backend the task store runs on (Badger, broker/ha's JetStream) passes
// Run in its own tests, against the real backend.
//
// The suite covers the contract of Scan, Get, Commit, Run and Close, and a
// round trip of the task store's records through taskengine.Store and
// OpenStoreOn. It does not depose a writer: a backend that fences tests
// ErrFenced itself.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/broker/taskengine"
)

// Open returns a backend over the data named by dir. The suite gives each
// subtest a new empty directory (t.TempDir()): a backend opened on it
// holds nothing. Opened again on the same dir after the previous backend
// was closed, it holds everything that one committed. The suite closes
// every backend it opens, once; Open registers with t.Cleanup whatever
// else it starts (a server, a cluster) and may fail t with t.Fatal.
type Open func(t *testing.T, dir string) taskengine.Backend

// Run runs the suite against the backends open returns.
func Run(t *testing.T, open Open) {
	s := suite{open: open}
	t.Run("ScanOrderAndPrefix", s.scanOrderAndPrefix)
	t.Run("ScanAfterExclusive", s.scanAfter)
	t.Run("ScanValues", s.scanValues)
	t.Run("ScanStops", s.scanStops)
	t.Run("Get", s.get)
	t.Run("CommitUnits", s.commitUnits)
	t.Run("CommitInOrder", s.commitInOrder)
	t.Run("Delete", s.delete)
	t.Run("Move", s.move)
	t.Run("CommitEmpty", s.commitEmpty)
	t.Run("CommitLarge", s.commitLarge)
	t.Run("Reopen", s.reopen)
	t.Run("ReadsBesideCommit", s.readsBesideCommit)
	t.Run("Run", s.run)
	t.Run("StoreRoundTrip", s.storeRoundTrip)
	t.Run("StoreRefusesUnversioned", s.storeRefusesUnversioned)
	t.Run("StoreRefusesNewerSchema", s.storeRefusesNewerSchema)
}

type suite struct{ open Open }

// backend opens a backend on a fresh directory.
func (s suite) backend(t *testing.T) (*backend, string) {
	t.Helper()
	dir := t.TempDir()
	return s.openOn(t, dir), dir
}

// openOn opens a backend on dir, closed when the test ends unless it was
// closed before.
func (s suite) openOn(t *testing.T, dir string) *backend {
	t.Helper()
	b := &backend{Backend: s.open(t, dir)}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// backend is an opened backend, closed once.
type backend struct {
	taskengine.Backend
	closed bool
}

func (b *backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	return b.Backend.Close()
}

func (b *backend) closeNow(t *testing.T) {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// rec is a record as the suite compares it.
type rec struct{ K, V string }

func set(k, v string) taskengine.Write { return taskengine.Write{Key: []byte(k), Value: []byte(v)} }
func del(k string) taskengine.Write    { return taskengine.Write{Key: []byte(k)} }

func commit(t *testing.T, b taskengine.Backend, units ...taskengine.Unit) {
	t.Helper()
	if err := b.Commit(units); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// scanAll returns what Scan calls fn with, copied.
func scanAll(t *testing.T, b taskengine.Backend, prefix, after []byte, values bool) []rec {
	t.Helper()
	out := []rec{}
	err := b.Scan(prefix, after, values, func(k, v []byte) (bool, error) {
		if !values && v != nil {
			return false, fmt.Errorf("key %q: value %q without values", k, v)
		}
		out = append(out, rec{string(k), string(v)})
		return true, nil
	})
	if err != nil {
		t.Fatalf("Scan(%q, %q, %v): %v", prefix, after, values, err)
	}
	return out
}

func keys(rs []rec) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.K)
	}
	return out
}

func wantKeys(t *testing.T, what string, got []rec, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if d := cmp.Diff(want, keys(got)); d != "" {
		t.Errorf("%s: keys (-want +got):\n%s", what, d)
	}
}

func wantGet(t *testing.T, b taskengine.Backend, k string, want []byte) {
	t.Helper()
	v, err := b.Get([]byte(k))
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	if (v == nil) != (want == nil) || !bytes.Equal(v, want) {
		t.Errorf("Get(%q) = %q (nil: %v), want %q (nil: %v)", k, v, v == nil, want, want == nil)
	}
}

// sample is keys around the a/ prefix, committed out of order.
var sample = []string{"b/1", "a/2", "a", "a/10", "ab/x", "a/", "a/1", "0", "a0"}

func (s suite) commitSample(t *testing.T, b taskengine.Backend) {
	t.Helper()
	var u taskengine.Unit
	for _, k := range sample {
		u = append(u, set(k, "v:"+k))
	}
	commit(t, b, u)
}

func (s suite) scanOrderAndPrefix(t *testing.T) {
	b, _ := s.backend(t)
	s.commitSample(t, b)
	wantKeys(t, "prefix a/", scanAll(t, b, []byte("a/"), nil, false), "a/", "a/1", "a/10", "a/2")
	wantKeys(t, "prefix a", scanAll(t, b, []byte("a"), nil, false), "a", "a/", "a/1", "a/10", "a/2", "a0", "ab/x")
	wantKeys(t, "prefix b/", scanAll(t, b, []byte("b/"), nil, false), "b/1")
	wantKeys(t, "prefix c/", scanAll(t, b, []byte("c/"), nil, false))
	wantKeys(t, "no prefix", scanAll(t, b, nil, nil, false), "0", "a", "a/", "a/1", "a/10", "a/2", "a0", "ab/x", "b/1")
}

func (s suite) scanAfter(t *testing.T) {
	b, _ := s.backend(t)
	s.commitSample(t, b)
	for _, c := range []struct {
		after string
		want  []string
	}{
		{"a/1", []string{"a/10", "a/2"}},            // a key held: excluded
		{"a/15", []string{"a/2"}},                   // a key not held
		{"a/", []string{"a/1", "a/10", "a/2"}},      // the prefix itself, a key held
		{"0", []string{"a/", "a/1", "a/10", "a/2"}}, // before the prefix
		{"a/2", nil}, // the last
		{"b", nil},   // past the prefix
	} {
		wantKeys(t, "prefix a/ after "+c.after, scanAll(t, b, []byte("a/"), []byte(c.after), false), c.want...)
	}
	wantKeys(t, "no prefix after a0", scanAll(t, b, nil, []byte("a0"), false), "ab/x", "b/1")
}

func (s suite) scanValues(t *testing.T) {
	b, _ := s.backend(t)
	commit(t, b, taskengine.Unit{set("a/1", "one"), set("a/2", "two"), {Key: []byte("a/3"), Value: []byte{}}})
	want := []rec{{"a/1", "one"}, {"a/2", "two"}, {"a/3", ""}}
	if d := cmp.Diff(want, scanAll(t, b, []byte("a/"), nil, true)); d != "" {
		t.Errorf("with values (-want +got):\n%s", d)
	}
	// An empty value is a record, not an absence.
	var empty []byte
	err := b.Scan([]byte("a/3"), nil, true, func(_, v []byte) (bool, error) {
		empty = v
		return true, nil
	})
	if err != nil || empty == nil {
		t.Errorf("Scan of an empty value: %v, value nil: %v", err, empty == nil)
	}
	wantGet(t, b, "a/3", []byte{})
	// scanAll fails on a value given without values.
	wantKeys(t, "without values", scanAll(t, b, []byte("a/"), nil, false), "a/1", "a/2", "a/3")
}

func (s suite) scanStops(t *testing.T) {
	b, _ := s.backend(t)
	s.commitSample(t, b)
	var seen []string
	err := b.Scan([]byte("a/"), nil, true, func(k, _ []byte) (bool, error) {
		seen = append(seen, string(k))
		return len(seen) < 2, nil
	})
	if err != nil || !cmp.Equal(seen, []string{"a/", "a/1"}) {
		t.Errorf("stopped by false: %v after %q, want nil after [a/ a/1]", err, seen)
	}
	boom := errors.New("boom")
	seen = nil
	err = b.Scan(nil, nil, false, func(k, _ []byte) (bool, error) {
		seen = append(seen, string(k))
		return true, boom
	})
	if !errors.Is(err, boom) || !cmp.Equal(seen, []string{"0"}) {
		t.Errorf("stopped by an error: %v after %q, want boom after [0]", err, seen)
	}
}

func (s suite) get(t *testing.T) {
	b, _ := s.backend(t)
	wantGet(t, b, "a/1", nil)
	commit(t, b, taskengine.Unit{set("a/1", "one")})
	wantGet(t, b, "a/1", []byte("one"))
	wantGet(t, b, "a/", nil)
	wantGet(t, b, "a/10", nil)
	// The value is the caller's: changing it changes nothing stored.
	v, err := b.Get([]byte("a/1"))
	if err != nil {
		t.Fatal(err)
	}
	copy(v, "XXX")
	wantGet(t, b, "a/1", []byte("one"))
}

func (s suite) commitUnits(t *testing.T) {
	b, _ := s.backend(t)
	commit(t, b,
		taskengine.Unit{set("a/1", "one"), set("c/1", "cp1")},
		taskengine.Unit{set("a/2", "two")},
		taskengine.Unit{set("x/n/1", "fence"), set("q/n", "quarantine")})
	want := []rec{{"a/1", "one"}, {"a/2", "two"}, {"c/1", "cp1"}, {"q/n", "quarantine"}, {"x/n/1", "fence"}}
	if d := cmp.Diff(want, scanAll(t, b, nil, nil, true)); d != "" {
		t.Errorf("after Commit (-want +got):\n%s", d)
	}
}

func (s suite) commitInOrder(t *testing.T) {
	b, _ := s.backend(t)
	commit(t, b,
		taskengine.Unit{set("k", "1")}, taskengine.Unit{set("k", "2")},
		taskengine.Unit{set("gone", "1")}, taskengine.Unit{del("gone")},
		taskengine.Unit{del("back")}, taskengine.Unit{set("back", "1")})
	wantGet(t, b, "k", []byte("2"))
	wantGet(t, b, "gone", nil)
	wantGet(t, b, "back", []byte("1"))
}

func (s suite) delete(t *testing.T) {
	b, _ := s.backend(t)
	commit(t, b, taskengine.Unit{set("a/1", "one"), set("a/2", "two")})
	commit(t, b, taskengine.Unit{del("a/1")}, taskengine.Unit{del("a/never")})
	wantGet(t, b, "a/1", nil)
	wantGet(t, b, "a/never", nil)
	wantKeys(t, "after the delete", scanAll(t, b, nil, nil, true), "a/2")
}

// move is a task's move from a/ to f/: one unit sets f/ and deletes a/ and c/.
func (s suite) move(t *testing.T) {
	b, _ := s.backend(t)
	commit(t, b, taskengine.Unit{set("a/t1", "running"), set("c/t1", "cp")}, taskengine.Unit{set("a/t2", "pending")})
	commit(t, b, taskengine.Unit{set("f/t1", "done"), del("a/t1"), del("c/t1")})
	want := []rec{{"a/t2", "pending"}, {"f/t1", "done"}}
	if d := cmp.Diff(want, scanAll(t, b, nil, nil, true)); d != "" {
		t.Errorf("after the move (-want +got):\n%s", d)
	}
}

func (s suite) commitEmpty(t *testing.T) {
	b, _ := s.backend(t)
	commit(t, b, taskengine.Unit{set("a/1", "one")})
	for _, units := range [][]taskengine.Unit{nil, {}, {{}}} {
		if err := b.Commit(units); err != nil {
			t.Errorf("Commit(%v): %v", units, err)
		}
	}
	wantKeys(t, "after empty commits", scanAll(t, b, nil, nil, false), "a/1")
}

// commitLarge commits more than one small transaction holds: every unit
// is applied (Badger splits the call by its limits).
func (s suite) commitLarge(t *testing.T) {
	b, _ := s.backend(t)
	const n = 200
	val := bytes.Repeat([]byte("c"), 16<<10)
	var units []taskengine.Unit
	for i := range n {
		units = append(units, taskengine.Unit{set(fmt.Sprintf("a/t%04d", i), "rec"), {Key: fmt.Appendf(nil, "c/t%04d", i), Value: val}})
	}
	commit(t, b, units...)
	got := scanAll(t, b, nil, nil, true)
	if len(got) != 2*n {
		t.Fatalf("%d records after committing %d", len(got), 2*n)
	}
	for _, r := range got[n:] {
		if r.V != string(val) {
			t.Fatalf("%s: value of %d bytes, want %d", r.K, len(r.V), len(val))
		}
	}
}

func (s suite) reopen(t *testing.T) {
	b, dir := s.backend(t)
	commit(t, b, taskengine.Unit{set("a/1", "one"), set("a/2", "two")}, taskengine.Unit{set("f/0", "zero")})
	commit(t, b, taskengine.Unit{set("f/1", "one"), del("a/1")})
	b.closeNow(t)
	b = s.openOn(t, dir)
	want := []rec{{"a/2", "two"}, {"f/0", "zero"}, {"f/1", "one"}}
	if d := cmp.Diff(want, scanAll(t, b, nil, nil, true)); d != "" {
		t.Errorf("after reopening (-want +got):\n%s", d)
	}
	commit(t, b, taskengine.Unit{set("q/n", "q")})
	b.closeNow(t)
	b = s.openOn(t, dir)
	wantGet(t, b, "q/n", []byte("q"))
}

// readsBesideCommit runs Scan and Get while Commit runs (go test -race):
// each sees keys in order and every unit whole or not at all.
func (s suite) readsBesideCommit(t *testing.T) {
	b, _ := s.backend(t)
	const rounds = 100
	done := make(chan error, 1)
	go func() {
		for i := range rounds {
			k := fmt.Sprintf("a/%04d", i)
			if err := b.Commit([]taskengine.Unit{{set(k, "x"), set("c"+k[1:], "x")}}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Commit: %v", err)
			}
			finished = true
		default:
		}
		got := scanAll(t, b, []byte("a/"), nil, true)
		for i := 1; i < len(got); i++ {
			if got[i-1].K >= got[i].K {
				t.Fatalf("Scan out of order: %q then %q", got[i-1].K, got[i].K)
			}
		}
		// The unit's a/ record was seen: its c/ one is there too.
		for _, r := range got {
			if v, err := b.Get([]byte("c" + r.K[1:])); err != nil || v == nil {
				t.Fatalf("%s seen, its unit's c/ record: %q, %v", r.K, v, err)
			}
		}
	}
	if n := len(scanAll(t, b, []byte("c/"), nil, false)); n != rounds {
		t.Errorf("%d records after %d commits", n, rounds)
	}
}

func (s suite) run(t *testing.T) {
	b, _ := s.backend(t)
	ctx, cancel := context.WithCancel(t.Context())
	res := make(chan error, 1)
	go func() { res <- b.Run(ctx) }()
	commit(t, b, taskengine.Unit{set("a/1", "one")})
	cancel()
	waitRun(t, res, "ctx ended")

	go func() { res <- b.Run(t.Context()) }()
	// Most likely Run is running when the close comes; if not, Run on a
	// closed backend returns nil at once, which the contract allows too.
	time.Sleep(10 * time.Millisecond)
	b.closeNow(t)
	waitRun(t, res, "closed")
}

func waitRun(t *testing.T, res <-chan error, why string) {
	t.Helper()
	select {
	case err := <-res:
		if err != nil {
			t.Errorf("Run, %s: %v, want nil", why, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Run did not return 10 s after %s", why)
	}
}
