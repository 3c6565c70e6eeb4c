package mqttd

import (
	"fmt"
	"strings"
	"testing"
)

// retainedTopic reports whether the broker holds a retained message on
// topic, and its size.
func retainedTopic(s *Server, topic string) (int, bool) {
	pk, ok := s.mochi.Topics.Retained.Get(topic)
	return len(pk.Payload), ok
}

// A node may publish only the documented topics: 30 large retained
// publishes under its own subtree are acknowledged and dropped, and
// nothing is retained.
func TestNodeCannotRetainJunk(t *testing.T) {
	s := startServer(t, testOptions(t))
	c := mustDial(t, s.Addr().String(), "node-a")
	payload := strings.Repeat("j", 60<<10) // under the client packet limit
	for i := range 30 {
		tok := c.pc.Publish(fmt.Sprintf("%s/junk/%d", nodeA, i), 1, true, payload)
		if !tok.Wait() || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	c.barrier()
	for i := range 30 {
		if _, ok := retainedTopic(s, fmt.Sprintf("%s/junk/%d", nodeA, i)); ok {
			t.Fatalf("junk/%d is retained", i)
		}
	}
	for topic := range s.mochi.Topics.Retained.GetAll() {
		if strings.HasPrefix(topic, "tether/") {
			t.Errorf("%s is retained", topic)
		}
	}
	if c.isLost(0) {
		t.Error("the node was disconnected")
	}
}

// Within its topics, a node's retained messages are held to its quota of
// topics and bytes; replacing or deleting one gives its room back.
func TestRetainedQuota(t *testing.T) {
	opts := testOptions(t)
	opts.MaxRetainedPerClient = 2
	opts.MaxRetainedBytesPerClient = 100 << 10
	s := startServer(t, opts)
	c := mustDial(t, s.Addr().String(), "node-a")
	retain := func(kind string, size int, want bool) {
		t.Helper()
		payload := strings.Repeat("r", size)
		tok := c.pc.Publish(nodeA+"/"+kind, 1, true, payload)
		if !tok.Wait() || tok.Error() != nil {
			t.Fatalf("publish %s: %v", kind, tok.Error())
		}
		c.barrier()
		got, ok := retainedTopic(s, nodeA+"/"+kind)
		if held := ok && got == size; held != want {
			t.Fatalf("retain %d bytes on %s: held %v (%d bytes), want %v", size, kind, ok, got, want)
		}
	}
	retain("status", 40<<10, true)
	retain("metrics", 40<<10, true)
	retain("tasks", 1<<10, false)   // a third topic
	retain("status", 50<<10, true)  // replaces: 90 KiB in all
	retain("status", 65<<10, false) // would be 105 KiB
	retain("metrics", 0, false)     // deletes metrics
	retain("tasks", 1<<10, true)    // room again
	if n, b := s.hook.retained.used("node-a"); n != 2 || b != 51<<10 {
		t.Errorf("usage %d topics, %d bytes; want 2 and %d", n, b, 51<<10)
	}
	// The scheduler has no quota.
	sched := mustDial(t, s.Addr().String(), "scheduler")
	for i := range 5 {
		tok := sched.pc.Publish(fmt.Sprintf("tether/v1/eu-1/tasks/status/t%d", i), 1, true, strings.Repeat("s", 60<<10))
		if !tok.Wait() || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	sched.barrier()
	if _, ok := retainedTopic(s, "tether/v1/eu-1/tasks/status/t4"); !ok {
		t.Error("the scheduler's retained message was refused")
	}
}

func TestRetainedQuotaAccounting(t *testing.T) {
	q := newRetainedQuota(2, 100)
	if !q.admit("a", "t1", 60) {
		t.Fatal("first refused")
	}
	q.set("a", "t1", 60)
	if q.admit("a", "t2", 41) || !q.admit("a", "t2", 40) || !q.admit("a", "t1", 100) {
		t.Fatal("bytes quota wrong")
	}
	q.set("a", "t2", 40)
	if q.admit("a", "t3", 1) || !q.admit("a", "t3", 0) {
		t.Fatal("count quota wrong")
	}
	q.set("", "t1", 10) // the scheduler replaces a's message
	if n, b := q.used("a"); n != 1 || b != 40 {
		t.Fatalf("after a replacement by another: %d, %d", n, b)
	}
	q.set("a", "t2", 0)
	if n, _ := q.used("a"); n != 0 || len(q.usage) != 0 || len(q.topics) != 0 {
		t.Fatalf("after delete: %d topics, maps %v %v", n, q.usage, q.topics)
	}
}
