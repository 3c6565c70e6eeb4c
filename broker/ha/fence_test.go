package ha

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tether-edge/tether/broker/taskengine"
)

// TestFencing: a holder whose renewals stopped without it noticing (a
// paused process: its timers did not run) still believes in its term
// after another scheduler took over. Its Commit is refused by the stream
// itself and returns taskengine.ErrFenced, every later one too, and the new holder
// sees none of it.
func TestFencing(t *testing.T) {
	c := startRegion(t)
	ra, nca := c.open(t, "a", 0)
	rb, _ := c.open(t, "b", 1)
	ta := mustCampaign(t, ra)
	ba := mustBackend(t, ta)
	if err := ba.Commit([]taskengine.Unit{{{Key: []byte("a/t1"), Value: []byte("one")}}}); err != nil {
		t.Fatal(err)
	}
	close(ta.resign) // renewals stop; Lost never closes, as in a paused process
	<-ta.done
	tb := mustCampaign(t, rb)
	if !ta.Valid() {
		t.Fatal("the paused term noticed; the test needs it not to")
	}
	if tb.Epoch() <= ta.Epoch() {
		t.Fatalf("epoch %d after %d", tb.Epoch(), ta.Epoch())
	}

	err := ba.Commit([]taskengine.Unit{{{Key: []byte("a/t2"), Value: []byte("two")}}, {{Key: []byte("a/t1"), Value: nil}, {Key: []byte("c/t1"), Value: []byte("cp")}}})
	if !errors.Is(err, taskengine.ErrFenced) {
		t.Fatalf("deposed Commit: %v, want taskengine.ErrFenced", err)
	}
	if err := ba.Commit([]taskengine.Unit{{{Key: []byte("a/t3"), Value: []byte("three")}}}); !errors.Is(err, taskengine.ErrFenced) {
		t.Fatalf("Commit after fencing: %v, want taskengine.ErrFenced", err)
	}
	// The stream refuses the deposed epoch's messages whatever the client
	// does: one message, and an atomic batch.
	bk := ba.(*backend)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, ws := range [][]taskengine.Write{{{Key: []byte("a/t4"), Value: []byte("x")}}, {{Key: []byte("a/t5"), Value: []byte("x")}, {Key: []byte("a/t6"), Value: []byte("x")}}} {
		var msgs []*nats.Msg
		for _, w := range ws {
			msgs = append(msgs, bk.msg(w))
		}
		if _, err := publish(ctx, nca, msgs); !wrongSeq(err) {
			t.Errorf("%d deposed message(s) published straight: %v, want a wrong-last-sequence refusal", len(ws), err)
		}
	}

	bb := mustBackend(t, tb)
	if got := scanAll(t, bb, "", "", true); len(got) != 1 || got[0] != "a/t1=one" {
		t.Errorf("the new holder reads %q, want only a/t1=one", got)
	}
	if err := bb.Commit([]taskengine.Unit{{{Key: []byte("a/t7"), Value: []byte("seven")}}}); err != nil {
		t.Errorf("the new holder's Commit: %v", err)
	}
}

// TestUnansweredCommitIsWrittenAgain: a batch the stream does not answer
// in time is written again while the term holds, so a commit that would
// have stopped the scheduler (a node restarting under it, as CI saw)
// succeeds — twice when the first copy had been stored (the same values
// under the same keys), and once when it had not. A deposed holder's
// second copy is refused like its first.
func TestUnansweredCommitIsWrittenAgain(t *testing.T) {
	c := startRegion(t)
	ra, _ := c.open(t, "a", 0)
	ta := mustCampaign(t, ra)
	ba := mustBackend(t, ta)
	bk := ba.(*backend)
	var calls int
	for _, stored := range []bool{true, false} {
		calls = 0
		bk.send = func(ctx context.Context, nc *nats.Conn, msgs []*nats.Msg) (uint64, error) {
			calls++
			if calls == 1 {
				if stored {
					if _, err := publish(ctx, nc, msgs); err != nil {
						return 0, err
					}
				}
				return 0, fmt.Errorf("ha: publish: %w", context.DeadlineExceeded) // the answer lost
			}
			return publish(ctx, nc, msgs)
		}
		key := fmt.Sprintf("a/stored-%v", stored)
		err := ba.Commit([]taskengine.Unit{{{Key: []byte(key), Value: []byte("v")}, {Key: []byte("c/" + key), Value: []byte("cp")}}})
		if err != nil || calls != 2 {
			t.Fatalf("first copy stored %v: Commit %v after %d attempts, want nil after 2", stored, err, calls)
		}
		if v, err := ba.Get([]byte(key)); err != nil || string(v) != "v" {
			t.Fatalf("first copy stored %v: %s reads %q, %v", stored, key, v, err)
		}
	}
	// A fresh holder reads each key once, with its value.
	close(ta.resign)
	<-ta.done
	rb, _ := c.open(t, "b", 1)
	tb := mustCampaign(t, rb)
	bb := mustBackend(t, tb)
	if got, want := scanAll(t, bb, "", "", true), "[a/stored-false=v a/stored-true=v c/a/stored-false=cp c/a/stored-true=cp]"; fmt.Sprint(got) != want {
		t.Errorf("the next holder reads %v, want %s", got, want)
	}
	// The deposed holder's copies are refused, the second as the first.
	calls = 0
	err := ba.Commit([]taskengine.Unit{{{Key: []byte("a/late"), Value: []byte("x")}}})
	if !errors.Is(err, taskengine.ErrFenced) {
		t.Fatalf("a deposed holder's commit written again: %v after %d attempts, want taskengine.ErrFenced", err, calls)
	}
}
