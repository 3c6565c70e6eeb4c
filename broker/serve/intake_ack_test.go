package serve

import (
	"context"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/session"
)

// TestIntakeAcknowledgesTasksOnlyOnceCommitted: a message of a deferred
// subscription (task events, requests) is acknowledged through
// afterCommit — not by the worker when it has applied it.
func TestIntakeAcknowledgesTasksOnlyOnceCommitted(t *testing.T) {
	t.Parallel()
	in := newIntake(2, 4)
	var committed []func()
	pending := make(chan struct{}, 1)
	in.afterCommit = func(fn func()) { committed = append(committed, fn); pending <- struct{}{} }
	applied := make(chan string, 2)
	stop := in.start(context.Background())
	defer stop()

	acked := make(chan struct{}, 1)
	h := in.handler(func(m session.Message) { applied <- m.Topic })
	h(session.Message{Topic: "tether/v1/r/nodes/pi/tasks", QoS: 1, Ack: func() { acked <- struct{}{} }})
	<-applied
	<-pending
	select {
	case <-acked:
		t.Fatal("acknowledged when applied, before its commit")
	case <-time.After(100 * time.Millisecond):
	}
	committed[0]()
	select {
	case <-acked:
	case <-time.After(time.Second):
		t.Fatal("not acknowledged after its commit")
	}
}
