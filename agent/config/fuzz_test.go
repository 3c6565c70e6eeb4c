package config

import (
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
