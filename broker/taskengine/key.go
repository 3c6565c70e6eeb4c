package taskengine

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// The scheduler's signing key file is one PEM block of type "PRIVATE
// KEY" holding the ed25519 key in PKCS #8 (RFC 8410), as written by
// `openssl genpkey -algorithm ed25519` or EncodeSigningKey. Agents pin the
// matching public key (tasks.scheduler_keys in their configuration).

// LoadSigningKey reads the scheduler's signing key from path.
func LoadSigningKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	k, err := ParseSigningKey(b)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return k, nil
}

// ParseSigningKey parses a signing key file's contents.
func ParseSigningKey(b []byte) (ed25519.PrivateKey, error) {
	block, rest := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block: want a \"PRIVATE KEY\" block (PKCS #8 ed25519)")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("PEM block %q: want \"PRIVATE KEY\" (PKCS #8 ed25519)", block.Type)
	}
	if len(pemTrim(rest)) > 0 {
		return nil, errors.New("data after the PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("PKCS #8: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, want an ed25519 key", k)
	}
	return ek, nil
}

// EncodeSigningKey writes k in the signing key file format.
func EncodeSigningKey(k ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func pemTrim(b []byte) []byte {
	for len(b) > 0 && (b[0] == '\n' || b[0] == '\r' || b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}
