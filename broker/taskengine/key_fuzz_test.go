package taskengine

import (
	"crypto/ed25519"
	"encoding/pem"
	"testing"

	"github.com/tether-edge/tether/pkg/roundtrip"
)

// FuzzParseSigningKey: a signing key file is refused or parses to a key
// that EncodeSigningKey writes back to a file that parses the same.
func FuzzParseSigningKey(f *testing.F) {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		f.Fatal(err)
	}
	b, err := EncodeSigningKey(k)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(append(append([]byte{}, b...), "junk"...))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseSigningKey(b)
		if err != nil {
			return
		}
		roundtrip.Check(t, k, EncodeSigningKey, ParseSigningKey)
	})
}
