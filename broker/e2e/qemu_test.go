package e2e

import (
	"testing"
	"time"

	"github.com/tether-edge/tether/pkg/protocol"
	"github.com/tether-edge/tether/pkg/testenv"
)

// TestARMAgentsUnderQemu cross-compiles the agent for the Pi generations
// and runs each under qemu user emulation against a scheduler on loopback:
// each must publish a valid birth and metrics that the scheduler shows.
func TestARMAgentsUnderQemu(t *testing.T) {
	t.Parallel() // its own site, ports and build directory
	targets := []struct {
		node, goarch, goarm, qemu, arch string
	}{
		{"qemu-armv6", "arm", "6", "qemu-arm-static", "armv6"},
		{"qemu-armv7", "arm", "7", "qemu-arm-static", "armv7"},
		{"qemu-arm64", "arm64", "", "qemu-aarch64-static", "arm64"},
	}
	s := newSite(t)
	s.startScheduler()
	dir := t.TempDir()
	for _, tg := range targets {
		qemu := testenv.RequireTool(t, tg.qemu)
		bin := testenv.Build(t, dir, "./agent", "tether-agent-"+tg.arch, "linux", tg.goarch, tg.goarm)
		s.startAgentBinary(bin, []string{qemu}, tg.node)
	}
	took := s.waitFleet(60*time.Second, "emulated agents online with metrics", func(n map[string]protocol.FleetNode) bool {
		for _, tg := range targets {
			row := n[tg.node]
			if !row.Online || row.Arch != tg.arch || row.CPU == nil || row.MemPct == nil {
				return false
			}
		}
		return true
	})
	t.Logf("armv6, armv7 and arm64 agents under qemu reported within %v", took.Round(time.Millisecond))
}
