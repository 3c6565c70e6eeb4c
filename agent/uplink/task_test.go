package uplink

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/protocol"
)

func TestTaskCommandReachesOnTask(t *testing.T) {
	r := startBroker(t)
	got := make(chan []byte, 4)
	_, stop := newUplinkWith(t, r.url, "n1", func(o *Options) {
		o.OnTask = func(p []byte) { got <- append([]byte(nil), p...) }
	})
	defer stop()
	if err := r.srv.Publish("tether/v1/r1/nodes/n1/cmd/task", []byte(`{"v":1}`), false, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if string(p) != `{"v":1}` {
			t.Fatalf("OnTask got %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("task command not handed to OnTask")
	}
}

func TestTaskCommandWithoutOnTaskIsIgnored(t *testing.T) {
	r := startBroker(t)
	u, stop := newUplink(t, r.url, "n1")
	defer stop()
	if err := r.srv.Publish("tether/v1/r1/nodes/n1/cmd/task", []byte("garbage"), false, 1); err != nil {
		t.Fatal(err)
	}
	r.judged(t, u)
	if !u.Session().Connected() {
		t.Fatal("a task command without a handler cost the connection")
	}
}

// TestRecordAddedByAnotherComponentIsDelivered adds a task event the way the
// runner does — built with Header, added to the outbox, then Notify — and
// checks it arrives stamped like the uplink's own messages.
func TestRecordAddedByAnotherComponentIsDelivered(t *testing.T) {
	r := startBroker(t)
	u, stop := newUplink(t, r.url, "n1")
	defer stop()
	topic := "tether/v1/r1/nodes/n1/tasks"
	from := u.opts.Outbox.PendingFrom()
	_, err := u.opts.Outbox.Add(context.Background(), KindTaskEvent, func(seq uint64) (string, []byte, error) {
		b, err := json.Marshal(u.Header(seq, from))
		return topic, b, err
	})
	if err != nil {
		t.Fatal(err)
	}
	u.Notify()
	u.Notify() // a second nudge with one pending must not block
	var h protocol.Header
	if err := json.Unmarshal(r.waitFor(t, topic, func([]byte) bool { return true }), &h); err != nil {
		t.Fatal(err)
	}
	want := protocol.Header{V: protocol.Version, Node: "n1", Instance: u.Instance(), Seq: 1, From: 1}
	if diff := cmp.Diff(want, h, cmpHeaderIdentity); diff != "" {
		t.Fatalf("header (-want +got):\n%s", diff)
	}
	if h.TS.IsZero() {
		t.Fatal("header without a timestamp")
	}
}

// cmpHeaderIdentity compares the fields that say who sent a message and in
// which order, not when.
var cmpHeaderIdentity = cmp.Comparer(func(a, b protocol.Header) bool {
	return a.V == b.V && a.Node == b.Node && a.Instance == b.Instance && a.Seq == b.Seq && a.From == b.From
})
