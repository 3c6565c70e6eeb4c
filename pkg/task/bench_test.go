package task

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
)

// The scheduler decodes every task event of the region: a checkpoint
// event per task every few seconds to minutes, so at 10k running tasks
// some hundreds a second.
func BenchmarkDecodeEvent(b *testing.B) {
	for _, name := range []string{"event", "event-succeeded"} {
		b.Run(name, func(b *testing.B) {
			data, err := json.Marshal(examples[name])
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := DecodeEvent(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// An agent verifies every assignment it is sent, on a Pi Zero too: one
// ed25519 verification and one decode of the body.
func BenchmarkVerify(b *testing.B) {
	env := exampleEnvelope()
	keys := []ed25519.PublicKey{testPub()}
	b.ReportAllocs()
	b.SetBytes(int64(len(env.Body)))
	for b.Loop() {
		if _, err := Verify(keys, env, "pi-0001", ts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	a := examplesAssignment()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(testKey, a); err != nil {
			b.Fatal(err)
		}
	}
}
