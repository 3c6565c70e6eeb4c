package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestValidateHA(t *testing.T) {
	ha := func(mutate func(*Config)) Config {
		c := Default()
		c.MQTTURL = []string{"tcp://nats-1:1883", "tcp://nats-2:1883"}
		c.Embedded = Embedded{}
		c.HA.NATSURL = []string{"nats://nats-1:4222", "nats://nats-2:4222"}
		mutate(&c)
		return c
	}
	ok := ha(func(*Config) {})
	if err := ok.Validate(); err != nil {
		t.Fatalf("a highly available scheduler on a NATS cluster: %v", err)
	}
	cases := map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"embedded broker": {func(c *Config) { c.MQTTURL = nil; c.Embedded = Default().Embedded }, "not the embedded broker"},
		"bad url":         {func(c *Config) { c.HA.NATSURL = []string{"nats-1:4222"} }, "ha.nats_url"},
		"mqtt scheme":     {func(c *Config) { c.HA.NATSURL = []string{"tcp://nats-1:4222"} }, "ha.nats_url"},
		"short lease":     {func(c *Config) { c.HA.LeaseTTL = time.Second }, "ha.lease_ttl"},
		"long lease":      {func(c *Config) { c.HA.LeaseTTL = time.Hour }, "ha.lease_ttl"},
		"replicas":        {func(c *Config) { c.HA.Replicas = 7 }, "ha.replicas"},
		"blob bytes":      {func(c *Config) { c.Blobs.Quota = 1 << 20; c.HA.BlobBytes = 2 << 20 }, "ha.blob_bytes"},
		"negative bytes":  {func(c *Config) { c.HA.BlobBytes = -1 }, "ha.blob_bytes"},
		"holder control":  {func(c *Config) { c.HA.Holder = "a\nb" }, "ha.holder"},
		"enrolment":       {func(c *Config) { c.Enrol.File = "/etc/tether/enrol" }, "enrol"},
	}
	for name, c := range cases {
		cfg := ha(c.mutate)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, c.want)
		}
	}
}

func TestLoadHA(t *testing.T) {
	env := map[string]string{"TETHER_HA_NATS_URL": "nats://a:4222,nats://b:4222"}
	cfg, err := Load([]string{"--ha-holder", "sched-2"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.HA.NATSURL, " "); got != "nats://a:4222 nats://b:4222" || cfg.HA.HolderName() != "sched-2" {
		t.Fatalf("ha = %+v, want both URLs and holder sched-2", cfg.HA)
	}
	if !cfg.HA.Enabled() || cfg.HA.TTL() != DefaultLeaseTTL || (HA{}).Enabled() {
		t.Fatalf("Enabled/TTL wrong: %+v", cfg.HA)
	}
	if cfg.HABlobBytes() != DefaultHABlobBytes {
		t.Errorf("HABlobBytes = %d, want %d", cfg.HABlobBytes(), DefaultHABlobBytes)
	}
	cfg.Blobs.Quota = 1 << 20
	if cfg.HABlobBytes() != 1<<20 {
		t.Errorf("HABlobBytes under a 1 MiB quota = %d", cfg.HABlobBytes())
	}
	cfg.HA.BlobBytes = 512 << 10
	if cfg.HABlobBytes() != 512<<10 {
		t.Errorf("HABlobBytes = %d, want ha.blob_bytes", cfg.HABlobBytes())
	}
}
