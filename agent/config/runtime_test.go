package config

import (
	"io"
	"strings"
	"testing"
)

func TestRuntimeSettings(t *testing.T) {
	env := envOf(map[string]string{"TETHER_GC_PERCENT": "80", "TETHER_MEMORY_LIMIT": "20971520"})
	cfg, err := Load([]string{"--memory-limit", "16777216"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GCPercent != 80 || cfg.MemoryLimit != 16<<20 {
		t.Fatalf("gc_percent %d, memory_limit %d; want 80 from the environment, 16 MiB from the flag",
			cfg.GCPercent, cfg.MemoryLimit)
	}
	if _, err := Load(nil, envOf(map[string]string{"TETHER_MEMORY_LIMIT": "12MiB"}), io.Discard); err == nil ||
		!strings.Contains(err.Error(), "TETHER_MEMORY_LIMIT") {
		t.Fatalf("TETHER_MEMORY_LIMIT=12MiB: %v, want an error naming it", err)
	}
	for _, c := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.GCPercent = 0 }, "gc_percent"},
		{func(c *Config) { c.MemoryLimit = 4 << 20 }, "memory_limit"},
	} {
		cfg := Default()
		c.mutate(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want an error mentioning %q", err, c.want)
		}
	}
	cfg = Default()
	cfg.MemoryLimit = 0
	if err := cfg.Validate(); err != nil {
		t.Errorf("memory_limit 0 (none): %v", err)
	}
}
