package ha

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSigningKeyInstalledOnce: the first term given a key installs it;
// another scheduler's Region reads the same key back; a second, different
// key replaces it neither through SigningKey (ErrKeyMismatch, naming both
// key ids) nor by a direct install; the next term, configured with no key,
// signs with the region's, and a deposed term installs nothing.
func TestSigningKeyInstalledOnce(t *testing.T) {
	c := startRegion(t)
	ra, _ := c.open(t, "a", 0)
	rb, _ := c.open(t, "b", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if k, err := rb.SigningKey(ctx); k != nil || err != nil {
		t.Fatalf("a new region's key: %v, %v; want none", k, err)
	}
	ta := mustCampaign(t, ra)
	if k, installed, err := ta.SigningKey(ctx, nil); k != nil || installed || err != nil {
		t.Fatalf("no key anywhere: SigningKey = %v, %v, %v; want none", k, installed, err)
	}
	k1, k2 := newKey(t), newKey(t)
	k, installed, err := ta.SigningKey(ctx, k1)
	if err != nil || !installed || !k.Equal(k1) {
		t.Fatalf("first install: SigningKey = %v, %v, %v; want k1 installed", keyIDOrNil(k), installed, err)
	}
	if k, err := rb.SigningKey(ctx); err != nil || !k1.Equal(k) {
		t.Fatalf("the other scheduler reads %s, %v; want %s", keyIDOrNil(k), err, keyID(k1))
	}
	if k, installed, err := ta.SigningKey(ctx, k1); err != nil || installed || !k.Equal(k1) {
		t.Fatalf("the same key again: %v, %v, %v; want k1, not installed", keyIDOrNil(k), installed, err)
	}
	_, _, err = ta.SigningKey(ctx, k2)
	if !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), keyID(k1)) || !strings.Contains(err.Error(), keyID(k2)) {
		t.Fatalf("another key: %v; want ErrKeyMismatch naming %s and %s", err, keyID(k1), keyID(k2))
	}
	if err := ta.installKey(ctx, k2); !wrongSeq(err) {
		t.Fatalf("a direct install over the region's key: %v; want the stream's refusal", err)
	}
	if k, err := rb.SigningKey(ctx); err != nil || !k1.Equal(k) {
		t.Fatalf("after the refusals the region's key is %s, %v; want %s", keyIDOrNil(k), err, keyID(k1))
	}

	ta.Resign()
	tb := mustCampaign(t, rb)
	if k, installed, err := tb.SigningKey(ctx, nil); err != nil || installed || !k.Equal(k1) {
		t.Fatalf("the next term without a key: %v, %v, %v; want the region's %s", keyIDOrNil(k), installed, err, keyID(k1))
	}
	if _, _, err := tb.SigningKey(ctx, k2); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("the next term with another key: %v; want ErrKeyMismatch", err)
	}
	if err := ta.installKey(ctx, k2); err == nil || wrongSeq(err) {
		t.Fatalf("a deposed term's install: %v; want refused before it is sent", err)
	}
}

func keyIDOrNil(k ed25519.PrivateKey) string {
	if k == nil {
		return "<none>"
	}
	return keyID(k)
}
