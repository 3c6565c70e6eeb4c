package taskengine

import (
	"fmt"
	"testing"
	"time"
)

// TestAfterCommitWaitsForTheCommit: AfterCommit's function runs only once
// the input queued before it is committed — not while its commit is held
// — and the caller is not held meanwhile; a function registered when Run
// stops without committing never runs (what it would acknowledge stays
// unacknowledged).
func TestAfterCommitWaitsForTheCommit(t *testing.T) {
	t.Parallel()
	r := startGated(t)
	r.g.hold.Store(true)
	req := fmt.Sprintf(`{"v":1,"request_id":"a1","reply_to":"%s","spec":{"kind":"builtin","builtin":{"name":"sleep","units":1}}}`,
		r.topics.Reply("ops", "a1"))
	if err := r.svc.HandleSubmit([]byte(req)); err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{})
	start := time.Now()
	r.svc.AfterCommit(func() { close(ran) })
	if time.Since(start) > time.Second {
		t.Fatalf("AfterCommit held its caller %v", time.Since(start))
	}
	select {
	case <-r.g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the submission's commit did not start")
	}
	select {
	case <-ran:
		t.Fatal("ran while the commit was held")
	case <-time.After(300 * time.Millisecond):
	}
	r.release()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("did not run after the commit")
	}
}

// TestAfterCommitNeverRunsWhenNothingIsCommitted: Run stops with the
// commit failing; the function registered for that input never runs.
func TestAfterCommitNeverRunsWhenNothingIsCommitted(t *testing.T) {
	t.Parallel()
	r := startFailing(t, "a2")
	ran := make(chan struct{})
	r.svc.AfterCommit(func() { close(ran) })
	<-r.g.entered
	r.release() // the commit fails: Run returns its error
	select {
	case <-ran:
		t.Fatal("ran for an input whose commit failed")
	case <-time.After(time.Second):
	}
}

// TestRunReturnsWhenACommitFails: a failed commit ends Run with its error
// while Run's context is still live, so the scheduler stops and a restart
// reloads what was committed. Before, Run waited for its publisher, which
// ends with the context, so the scheduler went on: connected, holding the
// region's lease (ha), applying nothing (CI's rolling restart saw it).
func TestRunReturnsWhenACommitFails(t *testing.T) {
	t.Parallel()
	r := startFailing(t, "f1")
	<-r.g.entered
	r.release()
	select {
	case err := <-r.done:
		if err == nil {
			t.Fatal("Run returned nil after a failed commit")
		}
		r.done <- err // for the rig's cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of a failed commit, its context still live")
	}
}

// startFailing is a gated rig whose commits are held and fail when
// released, with a submission (request id req) applied and its commit
// under way or about to be.
func startFailing(t *testing.T, req string) gatedRig {
	t.Helper()
	r := startGated(t)
	r.g.hold.Store(true)
	r.g.fail.Store(true)
	sub := fmt.Sprintf(`{"v":1,"request_id":"%s","reply_to":"%s","spec":{"kind":"builtin","builtin":{"name":"sleep","units":1}}}`,
		req, r.topics.Reply("ops", req))
	if err := r.svc.HandleSubmit([]byte(sub)); err != nil {
		t.Fatal(err)
	}
	return r
}
