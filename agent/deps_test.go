package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAgentLinksNoBrokerCode keeps the edge binary lean: the agent must not
// link the scheduler's packages, the embedded broker or the plotting
// library, whatever later changes import.
func TestAgentLinksNoBrokerCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		"github.com/tether-edge/tether/broker/",
		"github.com/mochi-mqtt/",
		"gonum.org/",
		"github.com/prometheus/",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("tether-agent links %s", dep)
			}
		}
	}
}
