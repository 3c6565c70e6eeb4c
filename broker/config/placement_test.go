package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/broker/place/live"
)

func TestPlacementLayers(t *testing.T) {
	cfg, err := Load(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultPlacement(), cfg.Placement); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	path := filepath.Join(t.TempDir(), "broker.yaml")
	file := "placement:\n  policy: p2c\n  background_load: false\n  lan: {rtt: 5ms, bandwidth_mbps: 30}\n" +
		"  wan: {rtt: 160ms, up_mbps: 8, down_mbps: 40}\n  link_probe: 30s\n  preempt: false\n  yield_wait: 500ms\n  node_queue: 2\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = Load([]string{"--config", path}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Placement{Policy: "p2c", LAN: Link{RTT: 5 * time.Millisecond, BandwidthMbps: 30},
		WAN: WANLink{RTT: 160 * time.Millisecond, UpMbps: 8, DownMbps: 40}, LinkProbe: 30 * time.Second, YieldWait: 500 * time.Millisecond, NodeQueue: 2}
	if diff := cmp.Diff(want, cfg.Placement); diff != "" {
		t.Errorf("from the file (-want +got):\n%s", diff)
	}
	wantOpts := live.Options{Policy: "p2c", LAN: live.Link{RTT: 5 * time.Millisecond, Mbps: 30},
		WAN: live.WAN{RTT: 160 * time.Millisecond, UpMbps: 8, DownMbps: 40}, IgnoreLoad: true, NoPreempt: true}
	if diff := cmp.Diff(wantOpts, cfg.Placement.Options()); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
	if w := cfg.Placement.EngineYieldWait(); w != 500*time.Millisecond {
		t.Errorf("the engine's yield wait: %v, want 500ms", w)
	}
	if w := (&Placement{}).EngineYieldWait(); w >= 0 {
		t.Errorf("the engine's yield wait for yield_wait 0: %v, want negative (no yield)", w)
	}
	if q := cfg.Placement.EngineNodeQueue(); q != 2 {
		t.Errorf("the engine's node queue under p2c: %d, want 2", q)
	}
	if p := (Placement{Policy: "fifo", NodeQueue: 2}); p.EngineNodeQueue() != 0 {
		t.Errorf("the engine's node queue under fifo: %d, want 0 (a central queue binds to free slots)", p.EngineNodeQueue())
	}
	env := map[string]string{"TETHER_PLACEMENT_POLICY": "random"}
	cfg, err = Load([]string{"--config", path}, func(k string) string { return env[k] }, io.Discard)
	if err != nil || cfg.Placement.Policy != "random" {
		t.Fatalf("from the environment: %q, %v", cfg.Placement.Policy, err)
	}
	cfg, err = Load([]string{"--config", path, "--placement-policy", "round-robin"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil || cfg.Placement.Policy != "round-robin" {
		t.Fatalf("from the flag: %q, %v", cfg.Placement.Policy, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestPlacementValidate(t *testing.T) {
	cases := map[string]struct {
		mutate func(*Placement)
		want   string
	}{
		"unknown policy":   {func(p *Placement) { p.Policy = "fastest" }, `placement.policy: unknown placement policy "fastest": use one of least-loaded`},
		"simulator only":   {func(p *Placement) { p.Policy = "oracle" }, "not one the live scheduler runs"},
		"srtf unpreempted": {func(p *Placement) { p.Policy, p.Preempt = "srtf", false }, "placement.policy srtf preempts by definition"},
		"no lan rtt":       {func(p *Placement) { p.LAN.RTT = 0 }, "placement.lan.rtt"},
		"tiny yield wait":  {func(p *Placement) { p.YieldWait = time.Millisecond }, "placement.yield_wait 1ms"},
		"long yield wait":  {func(p *Placement) { p.YieldWait = time.Minute }, "placement.yield_wait 1m0s"},
		"huge wan rtt":     {func(p *Placement) { p.WAN.RTT = time.Hour }, "placement.wan.rtt"},
		"no bandwidth":     {func(p *Placement) { p.LAN.BandwidthMbps = 0 }, "placement.lan.bandwidth_mbps"},
		"negative up":      {func(p *Placement) { p.WAN.UpMbps = -1 }, "placement.wan.up_mbps"},
		"no down":          {func(p *Placement) { p.WAN.DownMbps = 0 }, "placement.wan.down_mbps"},
		"probe too often":  {func(p *Placement) { p.LinkProbe = 500 * time.Millisecond }, "placement.link_probe 500ms"},
		"probe never":      {func(p *Placement) { p.LinkProbe = 48 * time.Hour }, "placement.link_probe 48h"},
		"negative queue":   {func(p *Placement) { p.NodeQueue = -1 }, "placement.node_queue -1"},
		"huge queue":       {func(p *Placement) { p.NodeQueue = 1025 }, "placement.node_queue 1025"},
	}
	for name, c := range cases {
		cfg := Default()
		c.mutate(&cfg.Placement)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, c.want)
		}
	}
	for _, ok := range []string{"tether", "round-robin", "wrandom", "sjf", "fifo", "priority", "srtf", "edf"} {
		cfg := Default()
		cfg.Placement.Policy = ok
		if err := cfg.Validate(); err != nil {
			t.Errorf("policy %s: %v", ok, err)
		}
	}
}

// TestDeployExamplePlacement: deploy/broker.yaml writes out the placement defaults.
func TestDeployExamplePlacement(t *testing.T) {
	cfg, err := Load([]string{"--config", "../../deploy/broker.yaml"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultPlacement(), cfg.Placement); diff != "" {
		t.Errorf("deploy/broker.yaml placement (-defaults +file):\n%s", diff)
	}
}
