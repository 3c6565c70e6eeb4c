package ha

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tether-edge/tether/broker/taskengine"
)

// TestNodeLossUnderCommits: SIGKILL the node leading the region's stream
// while the holder commits two-write units. The holder keeps the region,
// or takes it back (its own lease) with a new term; every unit a Commit
// acknowledged is there afterwards, whole, and no unit is there in half.
func TestNodeLossUnderCommits(t *testing.T) {
	c := startRegion(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, _ := c.open(t, "a", 0)
	tm := mustCampaign(t, r)
	b := mustBackend(t, tm)
	info, err := r.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victim := int(info.Cluster.Leader[1] - '1') // nodes are n1..n3
	if !strings.HasPrefix(info.Cluster.Leader, "n") || victim < 0 || victim > 2 {
		t.Fatalf("stream leader %q", info.Cluster.Leader)
	}

	acked := map[int]bool{}
	terms, failures := 1, 0
	var killedAt time.Time
	for i := 0; i < 300; i++ {
		if i == 50 {
			killedAt = time.Now()
			c.Kill(victim)
			t.Logf("killed n%d, the stream's leader", victim+1)
		}
		id := fmt.Sprintf("t%04d", i)
		err := b.Commit([]taskengine.Unit{{{Key: []byte("a/" + id), Value: []byte("r" + id)}, {Key: []byte("c/" + id), Value: []byte("c" + id)}}})
		if err == nil {
			acked[i] = true
			continue
		}
		failures++
		t.Logf("commit %d after the kill (+%v): %v", i, time.Since(killedAt).Round(time.Millisecond), err)
		if failures > 20 {
			t.Fatalf("%d commits failed", failures)
		}
		b.Close()
		if !errors.Is(err, taskengine.ErrFenced) && tm.Valid() {
			// The outcome is unknown but the term holds: reload.
			if b, err = tm.Backend(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		<-tm.Lost()
		if tm, err = r.Campaign(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tm.Resign)
		terms++
		t.Logf("took the region back at epoch %d, %v after the kill", tm.Epoch(), time.Since(killedAt).Round(time.Millisecond))
		if b, err = tm.Backend(ctx); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	t.Logf("%d units acknowledged of 300, %d commits failed, %d term(s)", len(acked), failures, terms)

	check := mustBackend(t, tm)
	for i := range 300 {
		id := fmt.Sprintf("t%04d", i)
		a, err := check.Get([]byte("a/" + id))
		if err != nil {
			t.Fatal(err)
		}
		cp, err := check.Get([]byte("c/" + id))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case (a == nil) != (cp == nil):
			t.Errorf("unit %d is there in half: %q %q", i, a, cp)
		case acked[i] && (string(a) != "r"+id || string(cp) != "c"+id):
			t.Errorf("acknowledged unit %d lost: %q %q", i, a, cp)
		}
	}
	if len(acked) < 250 {
		t.Errorf("only %d of 300 units acknowledged", len(acked))
	}
}
