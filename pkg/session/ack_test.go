package session

import (
	"context"
	"testing"
	"time"
)

// TestDeferredAckIsTheHandlers: a message of a SubscribeDeferred
// subscription stays unacknowledged until its handler calls Ack, so a
// persistent session gets it again on its next connection; a plain
// subscription's message is acknowledged when its handler returns and is
// not delivered again; once acknowledged, the deferred one is not either.
func TestDeferredAckIsTheHandlers(t *testing.T) {
	_, url := startBroker(t)
	pubOpts := fastOptions(url)
	pubOpts.ClientID = "pub"
	pub, err := New(pubOpts)
	if err != nil {
		t.Fatal(err)
	}
	run(t, pub)
	waitConnected(t, pub)

	// connect runs a session of client id "sub" until stop, handing every
	// message to got; ack says whether the deferred handler acknowledges.
	connect := func(ack bool) (got chan Message, stop func()) {
		s, err := New(fastOptions(url))
		if err != nil {
			t.Fatal(err)
		}
		got = make(chan Message, 16)
		if err := s.SubscribeDeferred(context.Background(), "d/#", 1, func(m Message) {
			if m.Ack == nil {
				t.Error("a deferred subscription's message has no Ack")
			} else if ack {
				m.Ack()
			}
			got <- m
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.Subscribe(context.Background(), "p/#", 1, func(m Message) {
			if m.Ack != nil {
				t.Error("a plain subscription's message has an Ack")
			}
			got <- m
		}); err != nil {
			t.Fatal(err)
		}
		stop = run(t, s)
		waitConnected(t, s)
		return got, stop
	}
	collect := func(got chan Message, quiet time.Duration) map[string]int {
		seen := map[string]int{}
		for {
			select {
			case m := <-got:
				seen[m.Topic]++
			case <-time.After(quiet):
				return seen
			}
		}
	}

	got, stop := connect(false)
	for _, topic := range []string{"d/1", "p/1"} {
		if err := pub.Publish(context.Background(), Message{Topic: topic, QoS: 1, Payload: []byte(topic)}); err != nil {
			t.Fatal(err)
		}
	}
	if seen := collect(got, time.Second); seen["d/1"] != 1 || seen["p/1"] != 1 {
		t.Fatalf("first connection received %v", seen)
	}
	stop()

	got, stop = connect(true)
	if seen := collect(got, 2*time.Second); seen["d/1"] != 1 || seen["p/1"] != 0 {
		t.Fatalf("next connection received %v: want the unacknowledged d/1 again, not the acknowledged p/1", seen)
	}
	stop()

	got, stop = connect(true)
	if seen := collect(got, 2*time.Second); len(seen) != 0 {
		t.Fatalf("after its handler acknowledged it, the broker delivered again %v", seen)
	}
	stop()
}
