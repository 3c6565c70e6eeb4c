package runner

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/roundtrip"
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
	// Signed, but with times that cannot be written back in UTC.
	farFuture, yearZero := assignment("t", 1, spec), assignment("t", 1, spec)
	farFuture.Expires = time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -(23*3600+59*60)))
	yearZero.Issued = time.Date(0, 1, 1, 0, 0, 0, 0, time.FixedZone("", 23*3600+59*60))
	env.Body[len(env.Body)/2] ^= 1
	tampered, _ := json.Marshal(env)
	for _, seed := range [][]byte{
		nil, []byte("{}"), []byte("null"), []byte(`{"v":1,"key":"0011223344556677","body":"e30=","sig":""}`),
		fx.sign(wrongNode), fx.sign(expired), fx.sign(cancelAssignment("t", 1)), fx.sign(yieldAssignment("t", 1)), tampered, signUnchecked(fx, farFuture), signUnchecked(fx, yearZero),
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
	f.Add([]byte("progress 9223372036854775807 9223372036854775807"))
	for _, bad := range []saved{
		{Attempt: 1, Spec: sv.Spec, Progress: math.MaxInt64, Total: math.MaxInt64},
		{Attempt: 1, Spec: sv.Spec, Expires: time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -(23*3600+59*60)))},
	} {
		b, err := bad.encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// What decodes encodes again, to the same thing.
		if s, err := decodeSaved(b); err == nil {
			if err := s.Spec.Validate(); err != nil {
				t.Fatalf("decoded an invalid spec: %v", err)
			}
			roundtrip.Check(t, s, func(s saved) ([]byte, error) { return s.encode() }, decodeSaved)
		}
		if s, err := decodeBuiltinState(b, 10); err == nil {
			if s.done < 0 || s.done > 10 {
				t.Fatalf("decoded a state at unit %d of 10", s.done)
			}
			roundtrip.Check(t, s, func(s builtinState) ([]byte, error) { return s.encode(), nil },
				func(b []byte) (builtinState, error) { return decodeBuiltinState(b, 10) }, cmp.AllowUnexported(builtinState{}))
		}
		d, tot := parseProgress(string(b))
		if d < 0 || tot < 0 || (tot > 0 && d > tot) || d > protocol.MaxSeq || tot > protocol.MaxSeq {
			t.Fatalf("progress %d of %d", d, tot)
		}
		if d2, tot2 := parseProgress(fmt.Sprintf("progress %d %d", d, tot)); d2 != d || tot2 != tot {
			t.Fatalf("progress %d of %d reads back as %d of %d", d, tot, d2, tot2)
		}
	})
}

// signUnchecked signs a as Sign would, without validating it first: what
// a buggy or compromised scheduler could send.
func signUnchecked(fx *fixture, a task.Assignment) []byte {
	body, _ := json.Marshal(a)
	env := task.Envelope{V: task.Version, Key: task.KeyID(fx.pub), Body: body,
		Sig: ed25519.Sign(fx.priv, append([]byte(task.SignContext), body...))}
	b, _ := json.Marshal(env)
	return b
}
