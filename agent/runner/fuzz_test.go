package runner

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/task"
)

// FuzzHandle feeds the assignment path arbitrary task commands: nothing
// may panic, and nothing that does not verify may reach the journal.
func FuzzHandle(f *testing.F) {
	fx := newFixture(f, nil)
	fx.stop() // handle is called here, as Run's goroutine would
	spec := sleepSpec(1, 1, 0, false)
	wrongNode := assignment("t", 1, spec)
	wrongNode.Node = "other"
	expired := assignment("t", 1, spec)
	expired.Issued, expired.Expires = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
	env, err := task.Sign(fx.priv, wrongNode)
	if err != nil {
		f.Fatal(err)
	}
	env.Body[len(env.Body)/2] ^= 1
	tampered, _ := json.Marshal(env)
	for _, seed := range [][]byte{
		nil, []byte("{}"), []byte("null"), []byte(`{"v":1,"key":"0011223344556677","body":"e30=","sig":""}`),
		fx.sign(wrongNode), fx.sign(expired), fx.sign(cancelAssignment("t", 1)), tampered,
		[]byte(`{"v":1,"key":"` + task.KeyID(fx.pub) + `","body":"` + string(make([]byte, 10)) + `","sig":"AAAA"}`),
	} {
		f.Add(seed)
	}
	var mu sync.Mutex
	f.Fuzz(func(t *testing.T, payload []byte) {
		mu.Lock()
		defer mu.Unlock()
		fx.r.handle(payload)
		if len(fx.r.tasks) != 0 || len(fx.r.queue) != 0 || fx.r.running != 0 {
			t.Fatalf("an unverified command made work: %d tasks, %d queued, %d running", len(fx.r.tasks), len(fx.r.queue), fx.r.running)
		}
	})
	if ts, err := fx.st.Tasks(); err != nil || len(ts) != 0 {
		f.Fatalf("journal after fuzzing: %v %+v", err, ts)
	}
}

// FuzzCheckpointDecoders: the saved record, a builtin's checkpoint and an
// exec task's progress line never panic, and what decodes is sane.
func FuzzCheckpointDecoders(f *testing.F) {
	sv := saved{Attempt: 1, Spec: sleepSpec(3, 1, 1, true), State: builtinState{done: 2}.encode()}
	good, err := sv.encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:7])
	f.Add([]byte("progress 3 10"))
	f.Add([]byte("progress 11 10"))
	f.Add(builtinState{done: 3}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := decodeSaved(b); err == nil {
			if err := s.Spec.Validate(); err != nil {
				t.Fatalf("decoded an invalid spec: %v", err)
			}
		}
		if s, err := decodeBuiltinState(b, 10); err == nil && (s.done < 0 || s.done > 10) {
			t.Fatalf("decoded a state at unit %d of 10", s.done)
		}
		if d, tot := parseProgress(string(b)); d < 0 || tot < 0 || (tot > 0 && d > tot) {
			t.Fatalf("progress %d of %d", d, tot)
		}
	})
}
