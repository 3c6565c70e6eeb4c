package config

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tether-edge/tether/pkg/roundtrip"
)

// FuzzLoad: a configuration file is refused with an error or loads; one
// that loads and validates writes back (YAML) to a file that loads to the
// same configuration.
func FuzzLoad(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "agent.yaml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("broker: [tcp://s:1883]\nheartbeat: 9999999h\nkeepalive: 1000000h\n"))
	f.Add([]byte("broker: [tcp://s:1883]\nlabels: {tether.speed: \"1000\"}\ntasks: {slots: 4096}\n"))
	f.Add([]byte("broker: [tcp://s:1883]\nnode_id: \"a/+/#\"\nregion: $SYS\n"))
	dir := f.TempDir()
	load := func(b []byte) (Config, error) {
		path := filepath.Join(dir, "agent.yaml")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return Config{}, err
		}
		return Load([]string{"--config", path}, func(string) string { return "" }, io.Discard)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := load(b)
		if err != nil || cfg.Validate() != nil {
			return
		}
		roundtrip.Check(t, cfg, func(c Config) ([]byte, error) { return yaml.Marshal(c) }, load)
	})
}

// FuzzParsePublicKey: a scheduler key is refused or parses to one that,
// written back as PEM, as PKIX base64 and as raw base64, parses the same.
func FuzzParsePublicKey(f *testing.F) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		f.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(pub)
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	f.Add(base64.StdEncoding.EncodeToString(der))
	f.Add(base64.RawStdEncoding.EncodeToString(pub))
	f.Add("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n")
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePublicKey(s)
		if err != nil {
			return
		}
		if len(k) != ed25519.PublicKeySize {
			t.Fatalf("a key of %d bytes", len(k))
		}
		encoders := map[string]func(ed25519.PublicKey) ([]byte, error){
			"pem": func(k ed25519.PublicKey) ([]byte, error) {
				der, err := x509.MarshalPKIXPublicKey(k)
				return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), err
			},
			"pkix": func(k ed25519.PublicKey) ([]byte, error) {
				der, err := x509.MarshalPKIXPublicKey(k)
				return []byte(base64.StdEncoding.EncodeToString(der)), err
			},
			"raw": func(k ed25519.PublicKey) ([]byte, error) { return []byte(base64.StdEncoding.EncodeToString(k)), nil },
		}
		for _, enc := range encoders {
			roundtrip.Check(t, k, enc, func(b []byte) (ed25519.PublicKey, error) { return ParsePublicKey(string(b)) })
		}
	})
}
