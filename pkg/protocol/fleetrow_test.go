package protocol

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFleetRowRoundTrip(t *testing.T) {
	ts := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	cpu := 12.5
	in := FleetRow{V: Version, TS: ts, FleetNode: FleetNode{Node: "pi-0001", Online: true, Arch: "arm64", Tier: TierEdge, CPU: &cpu, LastSeen: ts}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeFleetRow(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Fatalf("(-in +out)\n%s", diff)
	}
	if _, err := DecodeFleetRow([]byte(`{"v":1,"ts":"2026-11-27T09:30:00Z","node":"a/b","online":true,"last_seen":"2026-11-27T09:30:00Z"}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a row naming no valid node: %v", err)
	}
	tp, _ := NewTopics("eu-1")
	if tp.FleetRow("pi-1") != "tether/v1/eu-1/fleet/nodes/pi-1" || tp.AllFleetRows() != "tether/v1/eu-1/fleet/nodes/+" {
		t.Fatal(tp.FleetRow("pi-1"), tp.AllFleetRows())
	}
}
