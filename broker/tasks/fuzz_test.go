package tasks

import (
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/task"
)

// FuzzEngineInputs feeds whatever decodes as a submit request, a control
// request or an event into an engine with a node: nothing from the
// network may panic it or make a batch that does not encode.
func FuzzEngineInputs(f *testing.F) {
	f.Add([]byte(`{"v":1,"request_id":"r","reply_to":"tether/v1/default/replies/u/r","spec":{"id":"t","kind":"builtin","builtin":{"name":"cpu","units":5},"checkpointable":true}}`),
		[]byte(`{"v":1,"node":"pi-a","instance":"i","seq":1,"ts":"2026-11-27T09:30:00Z","task":"t","attempt":1,"state":"checkpoint","progress":2,"total":5,"checkpoint":"AAAA"}`))
	f.Add([]byte(`{"v":1,"request_id":"r","reply_to":"tether/v1/default/replies/u/r","op":"cancel","task":"t"}`),
		[]byte(`{"v":1,"node":"pi-a","instance":"i","seq":2,"ts":"2026-11-27T09:30:00Z","task":"t","attempt":1,"state":"succeeded","result":{"exit_code":0,"cpu_ms":1}}`))
	f.Fuzz(func(t *testing.T, request, event []byte) {
		topics, _ := protocol.NewTopics("default")
		now := t0
		e := New(Options{Topics: topics, Key: testKey, Now: func() time.Time { return now }}, Loaded{})
		e.UpdateNode(Node{ID: "pi-a", Online: true, Instance: "i", HasFacts: true, Tier: "edge", Cores: 4, MemTotal: 1 << 30})
		if req, err := task.DecodeSubmitRequest(request); err == nil {
			e.Submit(req)
		}
		if req, err := task.DecodeControlRequest(request); err == nil {
			e.Control(req)
		}
		if ev, err := task.DecodeEvent(event); err == nil {
			e.Event(ev)
			e.Event(ev)
		}
		now = now.Add(time.Hour)
		e.Tick()
		if _, err := e.Take(); err != nil {
			t.Fatal(err)
		}
	})
}
