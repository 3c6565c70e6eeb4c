package taskengine

import (
	"strings"
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
	// Hostile events: times that cannot be written back, seq 2⁶⁴−1,
	// progress past 2⁵³ (the decoder refuses them all).
	f.Add([]byte(`{"v":1,"request_id":"r","reply_to":"tether/v1/default/replies/u/r","spec":{"id":"t","kind":"builtin","builtin":{"name":"cpu","units":5}}}`),
		[]byte(`{"v":1,"node":"pi-a","instance":"i","seq":18446744073709551615,"ts":"9999-12-31T23:59:59-23:59","task":"t","attempt":1,"state":"running","progress":9223372036854775807}`))
	f.Add([]byte(`{"v":1,"request_id":"r","reply_to":"tether/v1/default/replies/u/r","spec":{"id":"t","kind":"builtin","builtin":{"name":"cpu","units":5}}}`),
		[]byte(`{"v":1,"node":"pi-a","instance":"i","seq":3,"ts":"0000-01-01T00:00:00+23:59","task":"t","attempt":1,"state":"succeeded","result":{"exit_code":0,"cpu_ms":9223372036854775807}}`))
	f.Fuzz(func(t *testing.T, request, event []byte) {
		topics, _ := protocol.NewTopics("default")
		now := t0
		e, err := New(Options{Topics: topics, Key: testKey, Placer: leastOutstanding{}, Now: func() time.Time { return now }}, Loaded{})
		if err != nil {
			t.Fatal(err)
		}
		e.UpdateNode(NodeState{ID: "pi-a", Online: true, Instance: "i", HasFacts: true, Tier: "edge", Cores: 4, MemTotal: 1 << 30})
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
		b, err := e.Take()
		if err != nil {
			t.Fatal(err)
		}
		// What the engine publishes, its readers accept.
		for _, m := range b.Msgs {
			var err error
			switch {
			case len(m.Payload) == 0: // a cleared retained status
			case strings.HasPrefix(m.Topic, topics.Prefix()+"/tasks/status/"):
				_, err = task.DecodeStatus(m.Payload)
			case strings.HasPrefix(m.Topic, topics.Prefix()+"/replies/"):
				_, err = task.DecodeReply(m.Payload)
			case m.Topic == topics.NodeCommand("pi-a", protocol.CmdTask):
				_, err = task.DecodeEnvelope(m.Payload)
			}
			if err != nil {
				t.Fatalf("published on %s what its readers refuse: %v", m.Topic, err)
			}
		}
	})
}
