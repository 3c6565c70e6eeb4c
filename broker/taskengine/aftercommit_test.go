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
	r := startGated(t)
	r.g.hold.Store(true)
	r.g.fail.Store(true)
	req := fmt.Sprintf(`{"v":1,"request_id":"a2","reply_to":"%s","spec":{"kind":"builtin","builtin":{"name":"sleep","units":1}}}`,
		r.topics.Reply("ops", "a2"))
	if err := r.svc.HandleSubmit([]byte(req)); err != nil {
		t.Fatal(err)
	}
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
