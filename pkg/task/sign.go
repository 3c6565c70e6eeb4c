package task

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
)

// ErrSignature is wrapped by Verify's errors about keys and signatures, and
// by every error of Verify that is not about the body's content: the node
// an assignment is for and its validity window.
var ErrSignature = errors.New("assignment signature")

// VerifySignature checks only env's version and its signature against the
// pinned keys: the first half of Verify. An agent that refuses an
// assignment Verify rejected later (wrong node, outside its window, not
// understood) uses it to know the body is the scheduler's, and so which
// task and attempt to name in its refusal.
func VerifySignature(keys []ed25519.PublicKey, env Envelope) error {
	if env.V != Version {
		return fmt.Errorf("%w: %w: envelope v=%d, want %d", ErrSignature, protocol.ErrVersion, env.V, Version)
	}
	var key ed25519.PublicKey
	for _, k := range keys {
		if id := KeyID(k); id != "" && id == env.Key {
			key = k
			break
		}
	}
	if key == nil {
		return fmt.Errorf("%w: signed by key %s, which is not pinned", ErrSignature, quote(env.Key))
	}
	msg := append([]byte(SignContext), env.Body...)
	if len(env.Sig) != ed25519.SignatureSize || !ed25519.Verify(key, msg, env.Sig) {
		return fmt.Errorf("%w: bad signature (key %s)", ErrSignature, quote(env.Key))
	}
	return nil
}

// ErrWindow is wrapped, with ErrSignature, by Verify's error for a
// correctly signed assignment outside its validity window: expired (an
// assignment queued for a node that was away too long), or issued in the
// future by the node's clock (a board without a real-time clock before NTP
// has synced). The scheduler places the task again either way.
var ErrWindow = errors.New("assignment outside its validity window")

// ClockSkew is how far Verify lets the node's clock and the scheduler's
// disagree at either end of an assignment's validity window.
const ClockSkew = time.Minute

// KeyID names a public key in an Envelope: the hex of its first 8 bytes;
// "" for something that is not an ed25519 public key.
func KeyID(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		return ""
	}
	return hex.EncodeToString(pub[:8])
}

// Sign validates a, encodes it and signs it with priv. The envelope it
// returns decodes within MaxMessage, or Sign fails (ErrTooLarge).
func Sign(priv ed25519.PrivateKey, a Assignment) (Envelope, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Envelope{}, fmt.Errorf("task: sign: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	if err := a.Validate(); err != nil {
		return Envelope{}, fmt.Errorf("task: sign: %w", err)
	}
	body, err := json.Marshal(a)
	if err != nil {
		return Envelope{}, fmt.Errorf("task: encode assignment: %w", err)
	}
	// The envelope is {"v":1,"key":"<16>","body":"<base64>","sig":"<base64>"}.
	const overhead = 64
	if n := base64.StdEncoding.EncodedLen(len(body)) + base64.StdEncoding.EncodedLen(ed25519.SignatureSize) + overhead; n > MaxMessage {
		return Envelope{}, fmt.Errorf("task: sign: %w: the envelope would be %d bytes, limit %d", protocol.ErrTooLarge, n, MaxMessage)
	}
	msg := append([]byte(SignContext), body...)
	return Envelope{V: Version, Key: KeyID(priv.Public().(ed25519.PublicKey)), Body: body,
		Sig: ed25519.Sign(priv, msg)}, nil
}

// Verify checks env's signature against the pinned keys, then decodes and
// validates the assignment and checks it is meant for node and valid at
// now (ClockSkew either way is tolerated). Nothing of the body is trusted
// before the signature checks.
//
// A valid signature does not make an assignment new: a recorded one can be
// delivered again within its window, so the agent acts on a (task,
// attempt) once.
func Verify(keys []ed25519.PublicKey, env Envelope, node string, now time.Time) (Assignment, error) {
	if err := VerifySignature(keys, env); err != nil {
		return Assignment{}, err
	}
	a, err := DecodeAssignment(env.Body)
	if err != nil {
		return Assignment{}, err
	}
	if a.Node != node {
		return Assignment{}, fmt.Errorf("%w: assignment for node %q, this is %q", ErrSignature, a.Node, node)
	}
	if now.Add(ClockSkew).Before(a.Issued) {
		return Assignment{}, fmt.Errorf("%w: %w: issued %s, in the future of this node's clock (%s)", ErrSignature, ErrWindow,
			a.Issued.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if now.After(a.Expires.Add(ClockSkew)) {
		return Assignment{}, fmt.Errorf("%w: %w: expired %s", ErrSignature, ErrWindow, a.Expires.Format(time.RFC3339))
	}
	return a, nil
}
