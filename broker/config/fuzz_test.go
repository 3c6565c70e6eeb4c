package config

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tether-edge/tether/pkg/roundtrip"
)

// FuzzLoad: a scheduler's configuration file is refused with an error or loads; one
// that loads and validates writes back (YAML) to a file that loads to the
// same configuration.
func FuzzLoad(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "broker.yaml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("username: s\nkeepalive: 1000000h\nfleet_interval: 1ns\noffline_grace: -1s\n"))
	f.Add([]byte("username: s\ntasks: {max_slots_per_node: 4096, max_speed: 1e300}\n"))
	f.Add([]byte("username: s\nregion: \"a/+/#\"\nplacement: {policy: fifo}\n"))
	dir := f.TempDir()
	load := func(b []byte) (Config, error) {
		path := filepath.Join(dir, "broker.yaml")
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
