package task

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/pkg/protocol"
)

func otherKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed([]byte("another scheduler, another key!!"))
}

// signRaw signs body as Sign would, without Sign's checks, to give Verify
// bodies a scheduler would never sign.
func signRaw(priv ed25519.PrivateKey, body []byte) Envelope {
	return Envelope{V: Version, Key: KeyID(priv.Public().(ed25519.PublicKey)), Body: body,
		Sig: ed25519.Sign(priv, append([]byte(SignContext), body...))}
}

func TestVerify(t *testing.T) {
	a := examplesAssignment() // issued ts, expires ts+10m, for pi-0001
	good := exampleEnvelope()
	pinned := []ed25519.PublicKey{testPub()}

	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 0x01
		return b
	}
	body := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good.Body, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	with := func(f func(e *Envelope)) Envelope {
		e := good
		f(&e)
		return e
	}

	cases := []struct {
		name string
		keys []ed25519.PublicKey
		env  Envelope
		node string
		now  time.Time
		want []error // nil: accepted
	}{
		{"good", pinned, good, "pi-0001", ts.Add(time.Minute), nil},
		{"good at the last moment", pinned, good, "pi-0001", a.Expires.Add(ClockSkew), nil},
		{"good on a clock a little behind", pinned, good, "pi-0001", ts.Add(-ClockSkew), nil},
		{"second pinned key (rotation)", []ed25519.PublicKey{otherKey().Public().(ed25519.PublicKey), testPub()},
			good, "pi-0001", ts, nil},
		{"tampered body", pinned, with(func(e *Envelope) { e.Body = flip(e.Body, 40) }), "pi-0001", ts,
			[]error{ErrSignature}},
		{"body re-encoded", pinned, with(func(e *Envelope) { e.Body = body(func(map[string]any) {}) }), "pi-0001", ts,
			[]error{ErrSignature}},
		{"body moved to another node", pinned, with(func(e *Envelope) {
			e.Body = body(func(m map[string]any) { m["node"] = "pi-0002" })
		}), "pi-0002", ts, []error{ErrSignature}},
		{"tampered signature", pinned, with(func(e *Envelope) { e.Sig = flip(e.Sig, 3) }), "pi-0001", ts,
			[]error{ErrSignature}},
		{"short signature", pinned, with(func(e *Envelope) { e.Sig = e.Sig[:32] }), "pi-0001", ts,
			[]error{ErrSignature}},
		{"no signature", pinned, with(func(e *Envelope) { e.Sig = nil }), "pi-0001", ts, []error{ErrSignature}},
		{"unknown key", []ed25519.PublicKey{otherKey().Public().(ed25519.PublicKey)}, good, "pi-0001", ts,
			[]error{ErrSignature}},
		{"no pinned key", nil, good, "pi-0001", ts, []error{ErrSignature}},
		{"broken pinned key", []ed25519.PublicKey{testPub()[:8]}, good, "pi-0001", ts, []error{ErrSignature}},
		{"signed by another key under this key's id", pinned, with(func(e *Envelope) { e.Sig = signRaw(otherKey(), e.Body).Sig }),
			"pi-0001", ts, []error{ErrSignature}},
		{"context left out", pinned, with(func(e *Envelope) { e.Sig = ed25519.Sign(testKey, e.Body) }), "pi-0001", ts,
			[]error{ErrSignature}},
		{"wrong node", pinned, good, "pi-0002", ts, []error{ErrSignature}},
		{"expired", pinned, good, "pi-0001", a.Expires.Add(ClockSkew + time.Millisecond), []error{ErrSignature, ErrWindow}},
		{"future", pinned, good, "pi-0001", ts.Add(-ClockSkew - time.Millisecond), []error{ErrSignature, ErrWindow}},
		{"clock of a board before NTP", pinned, good, "pi-0001", time.Unix(0, 0), []error{ErrSignature, ErrWindow}},
		{"wrong envelope version", pinned, with(func(e *Envelope) { e.V = 2 }), "pi-0001", ts,
			[]error{ErrSignature, protocol.ErrVersion}},
		{"signed body of another version", pinned, signRaw(testKey, body(func(m map[string]any) { m["v"] = 2 })),
			"pi-0001", ts, []error{protocol.ErrVersion}},
		{"signed body with an unknown field", pinned, signRaw(testKey, body(func(m map[string]any) { m["sandbox"] = "off" })),
			"pi-0001", ts, []error{protocol.ErrSyntax}},
		{"signed invalid body", pinned, signRaw(testKey, body(func(m map[string]any) { m["attempt"] = 0 })),
			"pi-0001", ts, []error{protocol.ErrInvalid}},
		{"signed garbage", pinned, signRaw(testKey, []byte("not json")), "pi-0001", ts, []error{protocol.ErrSyntax}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Verify(c.keys, c.env, c.node, c.now)
			if c.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if diff := cmp.Diff(a, got); diff != "" {
					t.Fatalf("assignment (-signed +verified):\n%s", diff)
				}
				return
			}
			for _, want := range c.want {
				if !errors.Is(err, want) {
					t.Errorf("Verify: %v, want %v", err, want)
				}
			}
			if !cmp.Equal(Assignment{}, got) {
				t.Errorf("Verify returned an assignment with its error: %+v", got)
			}
		})
	}
}

// VerifySignature vouches for the body alone: an assignment for another
// node, or expired, still carries the scheduler's signature.
func TestVerifySignature(t *testing.T) {
	pinned := []ed25519.PublicKey{testPub()}
	good := exampleEnvelope()
	if err := VerifySignature(pinned, good); err != nil {
		t.Fatalf("good: %v", err)
	}
	if _, err := Verify(pinned, good, "pi-0002", ts); err == nil {
		t.Fatal("Verify accepted an assignment for another node")
	}
	tampered := good
	tampered.Sig = bytes.Clone(good.Sig)
	tampered.Sig[0] ^= 1
	other := good
	other.V = 2
	for name, env := range map[string]Envelope{"tampered": tampered, "version": other} {
		if err := VerifySignature(pinned, env); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v, want ErrSignature", name, err)
		}
	}
	if err := VerifySignature(nil, good); !errors.Is(err, ErrSignature) {
		t.Errorf("no pinned key: %v, want ErrSignature", err)
	}
}

func TestSignRefuses(t *testing.T) {
	invalid := examplesAssignment()
	invalid.Attempt = 0
	cases := []struct {
		name string
		priv ed25519.PrivateKey
		a    Assignment
		want error
	}{
		{"invalid assignment", testKey, invalid, protocol.ErrInvalid},
		{"short key", testKey[:32], examplesAssignment(), nil},
		{"no key", nil, examplesAssignment(), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, err := Sign(c.priv, c.a)
			if err == nil {
				t.Fatalf("Sign accepted: %+v", env)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Sign: %v, want %v", err, c.want)
			}
		})
	}
}

// Whatever Sign signs decodes: a spec near MaxSpec next to a checkpoint of
// MaxCheckpoint still makes an envelope within MaxMessage.
func TestSignBoundsTheEnvelope(t *testing.T) {
	if n := 4*(MaxSpec+4*MaxCheckpoint/3+1024)/3 + 128; n > MaxMessage {
		t.Fatalf("the largest envelope is about %d bytes, more than MaxMessage", n)
	}
	a := examplesAssignment()
	a.Checkpoint = bytes.Repeat([]byte{0xff}, MaxCheckpoint)
	// '<' is escaped to 6 bytes by encoding/json: 64 args of 164 make a
	// spec just under MaxSpec.
	a.Spec = defaulted(Spec{ID: a.Task, Kind: KindExec, Exec: &Exec{Command: "/bin/true"}, Checkpointable: true})
	for len(a.Spec.Exec.Args) < maxArgs {
		a.Spec.Exec.Args = append(a.Spec.Exec.Args, strings.Repeat("<", 164))
	}
	spec, _ := json.Marshal(a.Spec)
	if len(spec) < MaxSpec-4<<10 || len(spec) > MaxSpec {
		t.Fatalf("the test's spec is %d bytes; make it just under MaxSpec", len(spec))
	}
	env, err := Sign(testKey, a)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := DecodeEnvelope(b)
	if err != nil {
		t.Fatalf("DecodeEnvelope of a %d-byte envelope: %v", len(b), err)
	}
	got, err := Verify([]ed25519.PublicKey{testPub()}, decoded, a.Node, ts)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Fatalf("(-signed +verified):\n%s", diff)
	}

	// One more escaped byte and the spec alone is refused.
	for len(spec) <= MaxSpec {
		a.Spec.Exec.Args[0] += "<"
		spec, _ = json.Marshal(a.Spec)
	}
	if _, err := Sign(testKey, a); !errors.Is(err, protocol.ErrInvalid) {
		t.Fatalf("Sign of a spec of %d bytes: %v, want ErrInvalid", len(spec), err)
	}
}

func TestKeyID(t *testing.T) {
	if got, want := KeyID(testPub()), "3dc136f28d12e371"; got != want {
		t.Errorf("KeyID = %q, want %q", got, want)
	}
	for _, bad := range []ed25519.PublicKey{nil, testPub()[:8], append(bytes.Clone(testPub()), 0)} {
		if got := KeyID(bad); got != "" {
			t.Errorf("KeyID of a %d-byte key = %q, want \"\"", len(bad), got)
		}
	}
}
