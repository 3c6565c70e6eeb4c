package task

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrSignature is wrapped by Verify's errors about keys and signatures.
var ErrSignature = errors.New("assignment signature")

// KeyID names a public key in an Envelope: the hex of its first 8 bytes.
func KeyID(pub ed25519.PublicKey) string { return hex.EncodeToString(pub[:8]) }

// Sign encodes a and signs it with priv.
func Sign(priv ed25519.PrivateKey, a Assignment) (Envelope, error) {
	body, err := json.Marshal(a)
	if err != nil {
		return Envelope{}, fmt.Errorf("task: encode assignment: %w", err)
	}
	msg := append([]byte(SignContext), body...)
	return Envelope{V: Version, Key: KeyID(priv.Public().(ed25519.PublicKey)), Body: body,
		Sig: ed25519.Sign(priv, msg)}, nil
}

// Verify checks env's signature against the pinned keys, then decodes and
// validates the assignment and checks it is meant for node and valid at
// now (a minute of clock skew either way is tolerated). Nothing of the body
// is trusted before the signature checks.
func Verify(keys []ed25519.PublicKey, env Envelope, node string, now time.Time) (Assignment, error) {
	if env.V != Version {
		return Assignment{}, fmt.Errorf("%w: envelope version %d, want %d", ErrSignature, env.V, Version)
	}
	var key ed25519.PublicKey
	for _, k := range keys {
		if len(k) == ed25519.PublicKeySize && KeyID(k) == env.Key {
			key = k
			break
		}
	}
	if key == nil {
		return Assignment{}, fmt.Errorf("%w: signed by key %q, which is not pinned", ErrSignature, env.Key)
	}
	msg := append([]byte(SignContext), env.Body...)
	if len(env.Sig) != ed25519.SignatureSize || !ed25519.Verify(key, msg, env.Sig) {
		return Assignment{}, fmt.Errorf("%w: bad signature (key %s)", ErrSignature, env.Key)
	}
	a, err := DecodeAssignment(env.Body)
	if err != nil {
		return Assignment{}, err
	}
	if a.Node != node {
		return Assignment{}, fmt.Errorf("%w: assignment for node %q, this is %q", ErrSignature, a.Node, node)
	}
	const skew = time.Minute
	if now.Add(skew).Before(a.Issued) {
		return Assignment{}, fmt.Errorf("%w: issued %s, in the future", ErrSignature, a.Issued.Format(time.RFC3339))
	}
	if now.After(a.Expires.Add(skew)) {
		return Assignment{}, fmt.Errorf("%w: expired %s", ErrSignature, a.Expires.Format(time.RFC3339))
	}
	return a, nil
}
