package serve

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tether-edge/tether/broker/fleet"
	"github.com/tether-edge/tether/broker/taskengine"
	"github.com/tether-edge/tether/pkg/protocol"
)

// TestTaskNodeCarriesMetrics: placement sees a node's facts and, from its latest metrics,
// its CPU load and the health flags it reports now (not those that occurred since boot).
func TestTaskNodeCarriesMetrics(t *testing.T) {
	t.Parallel()
	n := fleet.Node{ID: "pi-1", Online: true, Instance: "i1",
		Facts: &protocol.Facts{Tier: protocol.TierEdge, Cores: 4, MemTotal: 1 << 30, Labels: map[string]string{"tether.slots": "2"}},
		Metrics: &protocol.Metrics{CPU: protocol.CPU{Total: 42},
			Throttle: &protocol.Throttle{SoftTempLimit: true, UndervoltageOccurred: true}}}
	want := taskengine.NodeState{ID: "pi-1", Online: true, Instance: "i1", HasFacts: true, Tier: protocol.TierEdge, Cores: 4,
		MemTotal: 1 << 30, Labels: map[string]string{"tether.slots": "2"}, CPU: 0.42, Throttled: true}
	if diff := cmp.Diff(want, taskNode(n)); diff != "" {
		t.Errorf("taskNode (-want +got):\n%s", diff)
	}
	n.Metrics.Throttle = &protocol.Throttle{Undervoltage: true}
	n.Metrics.CPU.Total = 250 // out of range: clamped
	if got := taskNode(n); !got.Undervoltage || got.Throttled || got.CPU != 1 {
		t.Errorf("taskNode: %+v", got)
	}
	n.Metrics, n.Facts = nil, nil
	if got := taskNode(n); got.HasFacts || got.CPU != 0 || got.Throttled || got.Undervoltage {
		t.Errorf("taskNode without facts or metrics: %+v", got)
	}
}
